"""`python -m voiceid_tracker_cli`: the same as the `voiceid-tracker` console script."""

from voiceid_tracker_cli.app import main

main()
