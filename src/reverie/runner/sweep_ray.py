"""The Ray backend of ``reverie sweep``: each trial one Ray task (one CPU), on a local cluster this command starts
or on an existing one (``ray start --head``, then ``--address``).

A task whose worker dies (SIGKILL, a lost node) is retried by Ray; the retry finds the trial's directory
started and resumes it from its checkpoint (``trial.run_trial``), so a retry repeats at most the episodes
since that checkpoint. Ray is an optional extra: ``pip install 'reverie[ray]'``.
"""

from __future__ import annotations

import os

from reverie.errors import UserError
from reverie.runner.progress import RunProgress
from reverie.runner.spec import RunSpec
from reverie.runner.trial import progress_line, run_trial

# Ray's own retry budget for a task whose worker died; each retry resumes, so a few cover repeated faults
WORKER_DEATH_RETRIES = 5


def _connect(workers: int, address: str | None):
    try:
        import ray
    except ModuleNotFoundError:
        raise UserError(
            "--backend ray needs Ray: pip install 'reverie[ray]' (its version is in constraints.txt)"
        ) from None
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")  # no network here, and no prompt
    try:
        if address is None:  # a local cluster with one CPU per worker, torn down when the sweep ends
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise UserError(f"cannot reach a Ray cluster at {address or 'a new local one'}: {error}") from None
    return ray


def run_ray(specs: list[RunSpec], workers: int, address: str | None, progress: RunProgress) -> list[dict]:
    """Run ``specs`` as Ray tasks (at most ``workers`` at once on a local cluster; as the cluster's CPUs allow on
    an existing one); returns their rows as they finish."""
    ray = _connect(workers, address)
    try:
        task = ray.remote(num_cpus=1, max_retries=WORKER_DEATH_RETRIES, retry_exceptions=False)(run_trial)
        pending = {task.remote(spec): spec for spec in specs}
        rows = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            spec = pending.pop(done[0])
            try:
                rows.append(ray.get(done[0]))
            except ray.exceptions.RayError as error:  # retries spent: the trial stays resumable
                rows.append({"name": spec.out.name, "error": f"Ray: {str(error).splitlines()[0]}"})
            progress.advance(1)
            progress.show(progress_line(rows[-1]))
        return rows
    finally:
        ray.shutdown()
