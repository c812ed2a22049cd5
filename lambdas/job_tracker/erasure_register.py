"""The erasure register: the subjects `batch-job-tracker erase` erased, kept so that they stay erased.

Erasing a person's items is not enough on its own: re-recording the job (`"Rerecord": true`), the sweep or an
automatic retry reads the same job files again and would write the same items again. So `erase` also adds one
register item per erased value, and every writer of items that name a person applies the register: the record
step writes no failure item whose subject is erased (and counts it, `ErasedRecordCount`), and the retry
dispatcher sends no erased record to Bedrock again.

| item            | pk                   | sk                                         |
|-----------------|----------------------|--------------------------------------------|
| erased subject  | ERASED#<Attribute>   | <SubjectHash>, or <SubjectHash>#JOB#<JobId> |

One partition per subject attribute (`JobKind.subject_attribute`), so the record step loads the register of
its kind's attribute with one paged Query, once per record, and checks each failure by set membership. An
erasure limited to one job (`erase --record-id R --job J`: a RecordId is unique within a job only) is kept with
the job's id in its sort key and applies to that job only.

The register holds a hash of the value, never the value: SHA-256 over a fixed, versioned domain-separation
prefix, the attribute's name and the value (`subject_hash`). It keeps the value itself out of the table, its
backups and exports, and anyone reading them cannot recover an id of high entropy (a UUID) from its hash, nor
match it against hashes of the same ids made for another purpose. It does not hide an id that can be guessed:
whoever can read the table and has a candidate id (or can enumerate a small id space) can hash it and see
whether it was erased. A keyed hash (HMAC) would prevent that only with a secret both the CLI and the record
step hold; the tracker keeps no secrets, and the register is read under the table's own IAM (docs/data-
governance.md says so). The register items never expire: an erasure must outlast any re-record.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from job_tracker import table_schema as schema

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

REGISTER_PARTITION_PREFIX = "ERASED#"
JOB_SCOPE_SEPARATOR = "#JOB#"
RECORD_TYPE_ERASED_SUBJECT = "ERASED_SUBJECT"
# Changing it makes every hash in the register unmatchable: a new version must be added beside it, never
# in place of it.
HASH_DOMAIN = b"batch-job-tracker/erased-subject/v1"
# The characters an id is made of: a value whose subject could not be read is looked for as a whole id in the
# failure's message, as `erase` does (batch_job_tracker_cli/erasure.py).
_ID_RUN = re.compile(r"[A-Za-z0-9_-]+")


def register_partition_key(attribute: str) -> str:
    return f"{REGISTER_PARTITION_PREFIX}{attribute}"


def subject_hash(attribute: str, value: str) -> str:
    """The register's hash of `value` as `attribute`: SHA-256 over the domain prefix, the attribute and the value,
    each separated by a NUL (which neither holds), in hex."""
    return hashlib.sha256(b"\0".join([HASH_DOMAIN, attribute.encode(), value.encode()])).hexdigest()


def register_sort_key(attribute: str, value: str, job_id: str | None = None) -> str:
    digest = subject_hash(attribute, value)
    return digest if job_id is None else f"{digest}{JOB_SCOPE_SEPARATOR}{job_id}"


def register_item(attribute: str, value: str, *, job_id: str | None, erased_by: str, erased_at: str) -> dict[str, Any]:
    """The register item of one erased value: its hash, and when and by which `erase` flag it was erased (nothing
    about who the person is)."""
    return {
        schema.PARTITION_KEY: register_partition_key(attribute),
        schema.SORT_KEY: register_sort_key(attribute, value, job_id),
        "RecordType": RECORD_TYPE_ERASED_SUBJECT,
        "SubjectAttribute": attribute,
        "SubjectHash": subject_hash(attribute, value),
        "HashScheme": HASH_DOMAIN.decode(),
        "JobId": job_id,
        "ErasedAt": erased_at,
        "ErasedBy": erased_by,
    }


@dataclass(frozen=True)
class ErasedSubjects:
    """One attribute's register, as sets: `everywhere` holds the hashes erased in every job, `in_jobs` the
    `<hash>#JOB#<JobId>` of erasures limited to one job."""

    attribute: str | None
    everywhere: frozenset[str] = frozenset()
    in_jobs: frozenset[str] = frozenset()

    @classmethod
    def of_sort_keys(cls, attribute: str, sort_keys: Iterable[str]) -> ErasedSubjects:
        everywhere: set[str] = set()
        in_jobs: set[str] = set()
        for key in sort_keys:
            (in_jobs if JOB_SCOPE_SEPARATOR in key else everywhere).add(key)
        return cls(attribute, frozenset(everywhere), frozenset(in_jobs))

    def __len__(self) -> int:
        return len(self.everywhere) + len(self.in_jobs)

    def erases(self, value: object, job_id: str) -> bool:
        """Whether `value` (the attribute's value on a record of job `job_id`) is erased."""
        if not self or self.attribute is None or not isinstance(value, str) or not value:
            return False
        digest = subject_hash(self.attribute, value)
        return digest in self.everywhere or f"{digest}{JOB_SCOPE_SEPARATOR}{job_id}" in self.in_jobs

    def erases_one_named_in(self, text: object, job_id: str) -> bool:
        """Whether `text` (a failure's message, when its subject could not be read) names an erased value as a
        whole id."""
        if not self or not isinstance(text, str):
            return False
        return any(self.erases(token, job_id) for token in dict.fromkeys(_ID_RUN.findall(text)))

    def erases_failure(self, subject_value: object, message: object, job_id: str) -> bool:
        """Whether a failure is of an erased subject: by its subject's value, or, when that could not be read,
        by an erased value its message names."""
        if isinstance(subject_value, str) and subject_value:
            return self.erases(subject_value, job_id)
        return self.erases_one_named_in(message, job_id)


NOTHING_ERASED = ErasedSubjects(None)


def load_erased_subjects(client: DynamoDBClient, table: str, attribute: str | None) -> ErasedSubjects:
    """The register of `attribute` (every page of its partition, read consistently so that an erasure made a
    moment ago applies); NOTHING_ERASED for a kind that names no person."""
    if not attribute:
        return NOTHING_ERASED
    sort_keys: list[str] = []
    paginator = client.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="#pk = :pk",
        ExpressionAttributeNames={"#pk": schema.PARTITION_KEY, "#sk": schema.SORT_KEY},
        ExpressionAttributeValues={":pk": {"S": register_partition_key(attribute)}},
        ProjectionExpression="#sk",
        ConsistentRead=True,
    ):
        sort_keys.extend(item[schema.SORT_KEY]["S"] for item in page.get("Items", []))
    return ErasedSubjects.of_sort_keys(attribute, sort_keys)
