from relayroom.cli import main

main()
