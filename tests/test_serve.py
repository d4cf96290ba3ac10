"""``calserver serve``: what an admin sees when it cannot start."""

from pathlib import Path

from tests.conftest import run_cli


def test_serve_on_a_taken_port_says_so_and_exits_1(live_server, tmp_path: Path) -> None:
    port = live_server.url.rsplit(":", 1)[1]
    result = run_cli(
        live_server.database_url,
        live_server.data_folder,
        "--server-hosts",
        f"127.0.0.1:{port}",
        "serve",
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
