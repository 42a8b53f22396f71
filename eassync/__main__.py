from eassync.cli import main

main()
