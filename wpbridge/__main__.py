from wpbridge.cli import main

main()
