"""EventBridge content filtering (examples follow the EventBridge user guide)."""

from __future__ import annotations

from typing import Any

import pytest

from local_cloud.event_patterns import InvalidEventPatternError, matches_pattern, validate_pattern

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "VoiceId Batch Fraudster Registration Action",
    "source": "aws.voiceid",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:voiceid:us-west-1:111122223333:domain/abc", "arn:aws:s3:::bucket"],
    "detail": {
        "sourceId": "abc",
        "action": "START_FRAUDSTER_REGISTRATION_JOB",
        "status": "COMPLETED",
        "data": {"jobId": "job-1", "failures": 3, "ratio": 0.25, "ip": "10.0.1.7", "tags": ["a", "b"]},
        "flag": True,
        "nothing": None,
    },
}


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.voiceid"]},
        {"source": ["aws.other", "aws.voiceid"]},
        {"detail-type": [{"prefix": "VoiceId Batch"}]},
        {"detail-type": [{"suffix": "Action"}]},
        {"detail-type": [{"equals-ignore-case": "voiceid batch fraudster registration action"}]},
        {"detail-type": [{"prefix": {"equals-ignore-case": "VOICEID"}}]},
        {"detail": {"status": [{"anything-but": "FAILED"}]}},
        {"detail": {"status": [{"anything-but": ["FAILED", "IN_PROGRESS"]}]}},
        {"detail": {"status": [{"anything-but": {"prefix": "IN_"}}]}},
        {"detail": {"data": {"jobId": [{"exists": True}]}}},
        {"detail": {"data": {"missing": [{"exists": False}]}}},
        {"detail": {"absent": {"deeper": [{"exists": False}]}}},
        {"detail": {"data": {"failures": [{"numeric": [">", 0, "<=", 3]}]}}},
        {"detail": {"data": {"failures": [3.0]}}},
        {"detail": {"data": {"ratio": [{"numeric": ["<", 1]}]}}},
        {"detail": {"data": {"tags": ["b"]}}},  # any element of an array value may match
        {"resources": [{"prefix": "arn:aws:s3:::"}]},
        {"detail": {"data": {"ip": [{"cidr": "10.0.0.0/16"}]}}},
        {"detail": {"data": {"jobId": [{"wildcard": "job-*"}]}}},
        {"detail": {"flag": [True]}},
        {"detail": {"nothing": [None]}},
        {"$or": [{"source": ["nope"]}, {"detail": {"status": ["COMPLETED"]}}]},
        {
            "source": ["aws.voiceid"],
            "detail": {"action": ["START_FRAUDSTER_REGISTRATION_JOB"], "status": ["COMPLETED"]},
        },
    ],
)
def test_matching_patterns(pattern: dict[str, Any]) -> None:
    assert matches_pattern(pattern, EVENT)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": ["aws.other"]},
        {"source": ["AWS.VOICEID"]},  # exact matching is case sensitive
        {"detail": {"status": [{"anything-but": "COMPLETED"}]}},
        {"detail": {"status": [{"anything-but": {"prefix": "COMP"}}]}},
        {"detail": {"data": {"jobId": [{"exists": False}]}}},
        {"detail": {"data": {"missing": [{"exists": True}]}}},
        {"detail": {"data": {"missing": ["x"]}}},
        {"detail": {"data": {"missing": [{"anything-but": "x"}]}}},  # anything-but needs the field
        {"detail": {"data": {"failures": [{"numeric": [">", 3]}]}}},
        {"detail": {"data": {"failures": ["3"]}}},  # a string does not equal a number
        {"detail": {"flag": [1]}},  # JSON true is not 1
        {"detail": {"data": {"ip": [{"cidr": "192.168.0.0/16"}]}}},
        {"detail": {"data": {"jobId": [{"wildcard": "job-*-x"}]}}},
        {"detail": {"data": {"tags": ["c"]}}},
        {"detail": {"status": {"nested": ["x"]}}},  # the event value is not an object
        {"$or": [{"source": ["nope"]}, {"detail": {"status": ["FAILED"]}}]},
    ],
)
def test_non_matching_patterns(pattern: dict[str, Any]) -> None:
    assert not matches_pattern(pattern, EVENT)


def test_nested_objects_inside_arrays_match_any_element() -> None:
    event = {"detail": {"failures": [{"code": "ok"}, {"code": "INVALID_ARN"}]}}
    assert matches_pattern({"detail": {"failures": {"code": ["INVALID_ARN"]}}}, event)
    assert not matches_pattern({"detail": {"failures": {"code": ["OTHER"]}}}, event)


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": "aws.voiceid"},  # leaves must be arrays
        {"source": [{"regex": "aws.*"}]},
        {"detail": {"data": {"failures": [{"numeric": ["~", 1]}]}}},
        {"source": [{"prefix": "a", "suffix": "b"}]},
    ],
)
def test_invalid_patterns_raise(pattern: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventPatternError):
        matches_pattern(pattern, EVENT)
    with pytest.raises(InvalidEventPatternError):
        validate_pattern(pattern)


def test_validation_accepts_every_supported_operator() -> None:
    validate_pattern(
        {
            "a": ["x", 1, True, None, {"prefix": "p"}, {"suffix": "s"}, {"equals-ignore-case": "e"}],
            "b": [{"anything-but": ["x"]}, {"anything-but": {"prefix": "p"}}, {"exists": False}],
            "c": {"d": [{"numeric": [">=", 0, "<", 5]}, {"wildcard": "a*b"}, {"cidr": "10.0.0.0/8"}]},
            "$or": [{"e": ["f"]}, {"g": [{"exists": True}]}],
        }
    )
