"""Export jobs: one per system task, the bundle assembly, and the periodic safety nets."""
from __future__ import annotations

from dsr.export import assembly, delivery, tasks
from dsr.jobs import QUEUE_CONNECTORS, QUEUE_DEFAULT
from workers.registry import is_final_attempt, job


@job(QUEUE_CONNECTORS)
def export_system(session, task_id: int) -> str:
    return tasks.run_export_task(session, task_id, final_attempt=is_final_attempt())


@job(QUEUE_DEFAULT)
def assemble_bundle(session, request_id: int) -> str:
    return assembly.assemble_bundle(session, request_id, final_attempt=is_final_attempt())


@job(QUEUE_DEFAULT, every=10)
def sweep_export_work(session) -> dict:
    return tasks.sweep_export_work(session)


@job(QUEUE_DEFAULT, every=3600)
def delete_expired_bundles(session) -> int:
    return delivery.delete_expired_bundles(session)
