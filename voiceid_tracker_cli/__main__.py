"""`python -m voiceid_tracker_cli`: the CLI under its name before Bedrock, as `python -m batch_job_tracker_cli`."""

from batch_job_tracker_cli.app import main

main()
