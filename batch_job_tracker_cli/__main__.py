"""`python -m batch_job_tracker_cli`: the same as the `batch-job-tracker` console script."""

from batch_job_tracker_cli.app import main

main()
