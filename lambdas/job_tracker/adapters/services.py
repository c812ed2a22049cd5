"""One describer and one lister for every kind: each call goes to the adapter of the kind's service."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from job_tracker.errors import InvalidJobRequest
from job_tracker.kinds import JobKind
from job_tracker.models import JobDescription, JobRef
from job_tracker.sweep import JobLister, ListedJob
from job_tracker.tracking import JobDescriber


def _not_followed(kind: JobKind) -> InvalidJobRequest:
    return InvalidJobRequest(
        f"this stack does not follow {kind.service.name} jobs ({kind.name}); configure the service and deploy"
    )


class LazyDescriber:
    """A describer made on first use: a stack following both services creates the Bedrock client (which loads
    its service model, a cold-start cost) only in the environments that describe a Bedrock job."""

    def __init__(self, make: Callable[[], JobDescriber]) -> None:
        self._make = make
        self._describer: JobDescriber | None = None

    def describe(self, ref: JobRef, kind: JobKind) -> JobDescription:
        if self._describer is None:
            self._describer = self._make()
        return self._describer.describe(ref, kind)


class DescriberByService:
    """Describes a job through its kind's service (adapters by JobService.key, for the configured services)."""

    def __init__(self, describers: Mapping[str, JobDescriber]) -> None:
        self._describers = describers

    def describe(self, ref: JobRef, kind: JobKind) -> JobDescription:
        describer = self._describers.get(kind.service.key)
        if describer is None:
            raise _not_followed(kind)
        return describer.describe(ref, kind)


class ListerByService:
    """Lists a scope's jobs through its kind's service."""

    def __init__(self, listers: Mapping[str, JobLister]) -> None:
        self._listers = listers

    def list_job_pages(self, domain_id: str, kind: JobKind) -> Iterator[list[ListedJob]]:
        lister = self._listers.get(kind.service.key)
        if lister is None:
            raise _not_followed(kind)
        return lister.list_job_pages(domain_id, kind)
