"""Persistent jobs (digests asked for on a platform) and scheduled roundups."""

from __future__ import annotations

from bot.jobs.queue import Deliverer, JobQueue, JobResult, Record, Undeliverable
from bot.jobs.store import Job, JobSpec, JobState, JobStore

__all__ = ["Deliverer", "Job", "JobQueue", "JobResult", "JobSpec", "JobState", "JobStore", "Record", "Undeliverable"]
