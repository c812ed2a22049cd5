#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` / `npx cdk deploy` (configuration: cdk.json context, see docs/configuration.md)."""

from __future__ import annotations

import os

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import STACK_NAME, load_config
from infra.stack import BatchJobTrackerStack


def build_app(app: cdk.App | None = None) -> cdk.App:
    app = app or cdk.App()
    BatchJobTrackerStack(
        app,
        STACK_NAME,
        config=load_config(app.node),
        env=cdk.Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")),
        description="Batch job tracker: follows Amazon Bedrock batch inference jobs and Amazon Connect Voice ID "
        "batch jobs to their end and records every failed and unprocessed record",
    )
    # cdk-nag reports every AwsSolutions finding as an error, which fails `cdk synth`.
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    return app


if __name__ == "__main__":
    build_app().synth()
