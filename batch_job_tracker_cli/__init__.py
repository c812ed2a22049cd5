"""`batch-job-tracker`: the operator's command line for the batch job tracker (Voice ID, Bedrock, S3 Batch Operations).

A thin command layer (`app`) over small modules: where the stack is (`target`), what the failures table
holds (`records`), the tracker's executions (`executions`), building retry manifests (`retry`), following a
job (`progress`) and printing (`render`). It talks to AWS with boto3 through the table's documented access
patterns; from the Lambda package it reads only the shared data (`shared`).

Its name before Bedrock, `voiceid_tracker_cli`, is kept as an alias package of these same modules.
"""
