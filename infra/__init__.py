"""The CDK app's stack and its constructs (one construct per concern)."""
