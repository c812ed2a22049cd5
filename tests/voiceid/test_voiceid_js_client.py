"""The AWS SDK for JavaScript v3 as a second, independent client (tests/voiceid/js/voiceid_client.mjs)."""

from __future__ import annotations

from pathlib import Path

from emulator_core.testing import run_js_client
from voiceid_emulator.audio import make_wav
from voiceid_emulator.testing import ROLE_ARN, Env, fraudster_manifest

SCRIPT = Path(__file__).parent / "js" / "voiceid_client.mjs"


def test_js_sdk_start_describe_list(env: Env) -> None:
    domain_id = env.create_domain()
    audio = env.put_audio("audio/a.wav", make_wav(3))
    manifest = env.put_manifest(fraudster_manifest([("r1", [audio])]))
    out = run_js_client(
        SCRIPT,
        "@aws-sdk/client-voice-id",
        {
            "VOICEID_ENDPOINT": env.emulator.endpoint_url,
            "DOMAIN_ID": domain_id,
            "INPUT_S3_URI": manifest,
            "OUTPUT_S3_URI": f"s3://{env.output_bucket}/js",
            "KMS_KEY_ID": env.kms_key_id,
            "ROLE_ARN": ROLE_ARN,
            "AWS_REGION": "us-east-1",
        },
    )
    job_id = out["startFraudster"]["JobId"]
    assert out["startFraudster"]["JobStatus"] == "SUBMITTED"
    assert out["startFraudster"]["JobName"] == "from-js"
    assert out["describeFraudster"]["JobId"] == job_id
    assert out["describeFraudster"]["OutputDataConfig"]["KmsKeyId"] == env.kms_key_id
    assert [s["JobId"] for s in out["listFraudster"]["JobSummaries"]] == [job_id]
    assert out["secondStartError"]["name"] == "ServiceQuotaExceededException"
    assert out["secondStartError"]["status"] == 402
    assert out["notFoundError"]["name"] == "ResourceNotFoundException"
    assert out["notFoundError"]["status"] == 404
    assert out["notFoundError"]["resourceType"] == "BATCH_JOB"
    assert out["patternError"]["name"] == "ValidationException"
    assert "InputDataConfig.S3Uri" in out["patternError"]["message"]
    speaker_id = out["startSpeaker"]["JobId"]
    assert out["describeSpeaker"]["JobId"] == speaker_id
    assert [s["JobId"] for s in out["listSpeaker"]["JobSummaries"]] == [speaker_id]
    # The JS SDK's ClientToken (auto-filled UUID) passed the service's pattern check; the job really runs.
    env.emulator.run_until_done(job_id)
    assert env.read_output(job_id, folder="js")["SuccessfulRegistrations"][0]["RequestId"] == "r1"
