"""HTTP hygiene shared by the EAS transport and the DAV storage: where credentials may
go (:mod:`origin`), and answers that end in time and fit in memory (:mod:`bounded`)."""
