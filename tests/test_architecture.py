"""The parts of `webhook/` import each other in one direction only (docs/architecture.md).

`make lint` checks pyproject.toml's import contracts on the tree as it is. These tests plant, in a copy of
the package, each kind of import a contract exists to stop, and require that contract to break: a contract
that no longer matched anything (a part renamed, a module name mistyped) would otherwise pass in silence.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path, *, contract: str | None = None) -> subprocess.CompletedProcess[str]:
    only = [f"--contract={contract}"] if contract else []
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *only, "pyproject.toml"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def package_copy(repo_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(repo_root / "webhook", tmp_path / "webhook", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(repo_root / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_package_keeps_every_import_contract(package_copy: Path) -> None:
    result = lint_imports(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        pytest.param("engine/mutation.py", "from webhook.server import admission_review", "layers",
                     id="the engine importing the server"),
        pytest.param("engine/identity.py", "from webhook import metrics", "layers",
                     id="the engine importing metrics"),
        pytest.param("metrics.py", "from webhook.cluster import serviceaccount_cache", "layers",
                     id="metrics importing the cluster side"),
        pytest.param("cluster/serviceaccount_cache.py", "from webhook.tls import certs", "layers",
                     id="the cluster side importing tls"),
        pytest.param("tls/serving.py", "from webhook.cli import options", "layers",
                     id="tls importing the cli"),
        pytest.param("tools/explain.py", "from webhook.server import admission", "layers",
                     id="a tool importing the server"),
        pytest.param("server/admission.py", "from webhook.tools import inject", "layers",
                     id="the server importing a tool"),
        pytest.param("stray.py", "", "layers", id="a module outside every part"),
        pytest.param("server/http_app.py", "from webhook.cluster import kube_json", "assembly",
                     id="the http app importing the cluster side"),
        pytest.param("server/admission.py", "from webhook.tls import serving", "assembly",
                     id="the admission handler importing tls"),
        pytest.param("engine/mutation.py", "import os", "pure-engine", id="the engine importing os"),
        pytest.param("engine/settings.py", "import socket", "pure-engine", id="the engine importing socket"),
        pytest.param("engine/pod_view.py", "import kubernetes", "pure-engine",
                     id="the engine importing the kubernetes client"),
    ],
)  # fmt: skip
def test_a_planted_import_breaks_its_contract(
    package_copy: Path, module: str, planted: str, contract: str
) -> None:
    with (package_copy / "webhook" / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{planted}\n")
    result = lint_imports(package_copy, contract=contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 1 broken." in result.stdout
