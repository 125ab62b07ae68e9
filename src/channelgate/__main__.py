"""`python -m channelgate` is the `channelgate` command."""

from channelgate.cli import main

main()
