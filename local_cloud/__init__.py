"""Local cloud: runs a synthesized CDK stack on one machine without AWS or Docker.

Pieces (each usable on its own):

* :mod:`local_cloud.dynamodb_local` - AWS's DynamoDB Local (Java) as a child process.
* :mod:`local_cloud.moto_server` - moto server (S3, KMS, Step Functions...) as a child process.
* :mod:`local_cloud.gateway` - the single HTTP endpoint clients and the state machine interpreter use.
* :mod:`local_cloud.lambda_runtime` - Lambda Invoke without Docker, one worker process per sandbox.
* :mod:`local_cloud.template` - CloudFormation template loading and intrinsic resolution.
* :mod:`local_cloud.eventbridge` - EventBridge content filtering, input transformation and delivery.
* :mod:`local_cloud.iam`, :mod:`local_cloud.iam_requests`, :mod:`local_cloud.identity` - the template's IAM,
  enforced by the gateway on the calls of the stack's roles.
"""
