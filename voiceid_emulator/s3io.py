"""S3 access for Voice ID: the shared store (`emulator_core.s3io`) and where a job's `.out` file goes."""

from __future__ import annotations

import posixpath

from emulator_core.s3io import S3AccessError, S3Location, S3Store, make_s3_client

__all__ = ["S3AccessError", "S3Location", "S3Store", "make_s3_client", "output_location"]


def output_location(output_folder_uri: str, job_id: str, input_uri: str) -> S3Location:
    """`<folder>/<JobId>/<input file name>.out`, with a trailing `/` on the folder stripped (voiceid-facts §1.5)."""
    folder = S3Location.parse(output_folder_uri.rstrip("/"))
    input_name = posixpath.basename(S3Location.parse(input_uri).key) or "manifest"
    key = "/".join(part for part in (folder.key, job_id, f"{input_name}.out") if part)
    return S3Location(folder.bucket, key)
