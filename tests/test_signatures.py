"""No function in the package takes more than 6 positional parameters (issue 10, section 7): a long positional
list is a call site that silently swaps two arguments. Past 6, parameters are keyword-only or grouped."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "reverie"
MOST_POSITIONAL = 6


def positional_counts():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.posonlyargs + node.args.args if a.arg not in ("self", "cls")]
                yield f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}", len(names)


def test_no_function_takes_more_than_six_positional_parameters():
    long = [f"{where} ({count})" for where, count in positional_counts() if count > MOST_POSITIONAL]
    assert not long, "more than 6 positional parameters (make the rest keyword-only):\n" + "\n".join(long)


def test_the_check_sees_every_function():
    counts = dict(positional_counts())
    assert len(counts) > 300 and any(where.endswith(" build_config") for where in counts)
