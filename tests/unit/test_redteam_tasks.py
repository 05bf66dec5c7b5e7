"""Attacks through a dataset: its task file and its directory are a stranger's.

A ``dir`` source names a directory relative to the dataset directory, without ``..`` and
not absolute; but the name may be a symbolic link the dataset ships (``project ->
/home/someone``), and the harness copied whatever it resolved to into the work area: host
files handed to the agent (and to the model behind it).  A dataset's source must lie inside
the dataset directory, links resolved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lanser.errors import BadRequest
from lanser.harness.task.sources import materialize
from lanser.harness.task.spec import TaskSpec, load_tasks

REPO = Path(__file__).resolve().parents[2]
GOOD = json.loads((REPO / "datasets" / "toy-c" / "tasks.jsonl").read_text().splitlines()[0])


@pytest.mark.parametrize("where", ["project", "sub/project"])
def test_a_dir_source_linked_out_of_the_dataset_is_refused(tmp_path: Path, where: str) -> None:
    secret = tmp_path / "host-home"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE KEY\n")
    dataset = tmp_path / "dataset"
    link = dataset / where
    link.parent.mkdir(parents=True)
    if where == "project":
        link.symlink_to(secret, target_is_directory=True)
    else:  # a linked directory on the way
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "project").symlink_to(secret, target_is_directory=True)
        (dataset / "sub").rmdir()
        (dataset / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (dataset / "tasks.jsonl").write_text(json.dumps({**GOOD, "source": {"kind": "dir", "path": where}}) + "\n")
    with pytest.raises(BadRequest) as info:
        load_tasks(dataset / "tasks.jsonl")
    assert info.value.details["field"] == "source.path"
    task = json.loads((dataset / "tasks.jsonl").read_text())
    with pytest.raises(BadRequest):
        materialize(TaskSpec.model_validate(task).source, dataset, cache=tmp_path / "cache")


def test_a_link_inside_the_dataset_still_works(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    (dataset / "trees" / "v1").mkdir(parents=True)
    (dataset / "trees" / "v1" / "a.c").write_text("int a;\n")
    (dataset / "project").symlink_to(dataset / "trees" / "v1", target_is_directory=True)
    (dataset / "tasks.jsonl").write_text(json.dumps({**GOOD, "source": {"kind": "dir", "path": "project"}}) + "\n")
    (task,) = load_tasks(dataset / "tasks.jsonl")
    assert (materialize(task.source, dataset, cache=tmp_path / "cache") / "a.c").is_file()
