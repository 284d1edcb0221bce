import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture
def cli_error(capsys):
    """Run ``reverie <argv>``; assert exit code 2 and exactly one 'reverie: error:' line on stderr; return it."""
    from reverie.cli import main

    def run(argv: list[str]) -> str:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("reverie: error:"), err
        return err[0]

    return run
