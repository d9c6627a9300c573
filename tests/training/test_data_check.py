"""The planner's data check: every bad-data case names the file and the line, real files pass.

Each case writes a small file, so the expected line is written out here; the GLUE cases also go
through the real loader, which must fail with the very same sentence (one reader serves both).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sweepfirst.errors import DataError, ModelError, SpecError, SweepfirstError
from sweepfirst.spec import Workflow
from sweepfirst.tasks import get_task
from sweepfirst.training.data import glue_rows, load_raw_splits
from sweepfirst.training.data_check import check_task_data, check_workflow_data
from sweepfirst.training.qa.dataset import load_squad_v2_file

SST_HEADER = "sentence\tlabel\n"
GOOD_SST = SST_HEADER + "good film \t1\nbad film \t0\n"
MRPC_HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
GOOD_MRPC = MRPC_HEADER + '1\t1\t2\t"He said\tHe said\n0\t3\t4\tA cat\tA dog\n'


def _write(root: Path, folder: str, train: str | bytes, dev: str | bytes) -> Path:
    (root / folder).mkdir(parents=True, exist_ok=True)
    for split, content in (("train", train), ("dev", dev)):
        data = content.encode() if isinstance(content, str) else content
        (root / folder / f"{split}.tsv").write_bytes(data)
    return root


def _both_fail(task_name: str, data_dir: Path) -> str:
    """The check's message, after asserting the loader fails with the same one."""
    with pytest.raises(DataError) as checked:
        check_task_data(task_name, data_dir)
    with pytest.raises(DataError) as loaded:
        load_raw_splits(get_task(task_name), data_dir)
    assert checked.value.message == loaded.value.message
    return checked.value.message


# ---- GLUE: one case each, with the line it must name ------------------------------------------


def test_missing_data_folder(tmp_path: Path) -> None:
    message = _both_fail("sst2", tmp_path / "nowhere")
    assert message.startswith(f"The data folder {tmp_path / 'nowhere'} does not exist or is not")
    assert "--data-dir" in message


def test_empty_data_folder_names_the_missing_file(tmp_path: Path) -> None:
    message = _both_fail("mrpc", tmp_path)
    assert message.startswith(f"GLUE file {tmp_path / 'MRPC' / 'train.tsv'} not found;")


def test_missing_dev_file(tmp_path: Path) -> None:
    _write(tmp_path, "SST-2", GOOD_SST, GOOD_SST)
    (tmp_path / "SST-2" / "dev.tsv").unlink()
    assert "SST-2/dev.tsv not found" in _both_fail("sst2", tmp_path)


def test_missing_column_names_line_1(tmp_path: Path) -> None:
    _write(tmp_path, "SST-2", "sentence\tscore\ngood \t1\n", GOOD_SST)
    message = _both_fail("sst2", tmp_path)
    path = tmp_path / "SST-2" / "train.tsv"
    assert message.startswith(f"The header (line 1) of {path} has no column(s) 'label'")
    assert "['sentence', 'score']" in message


def test_one_field_row_names_its_line(tmp_path: Path) -> None:
    # Line 1 header, 2 and 3 good, 4 the row without its tab.
    _write(tmp_path, "SST-2", GOOD_SST + "no tab here 1\n", GOOD_SST)
    message = _both_fail("sst2", tmp_path)
    path = tmp_path / "SST-2" / "train.tsv"
    assert message.startswith(f"Line 4 of {path} has 1 fields, expected 2 ('sentence', 'label');")
    assert "a tab is missing" in message


def test_too_many_fields_names_its_line(tmp_path: Path) -> None:
    _write(tmp_path, "MRPC", GOOD_MRPC, MRPC_HEADER + "1\t5\t6\tA\tB\n1\t7\t8\tA\tB\tC\n")
    message = _both_fail("mrpc", tmp_path)
    assert message.startswith(f"Line 3 of {tmp_path / 'MRPC' / 'dev.tsv'} has 6 fields, expected 5")
    assert "stray tab" in message


def test_blank_line_names_its_line(tmp_path: Path) -> None:
    _write(tmp_path, "SST-2", SST_HEADER + "good \t1\n\nbad \t0\n", GOOD_SST)
    message = _both_fail("sst2", tmp_path)
    assert message.startswith(f"Line 3 of {tmp_path / 'SST-2' / 'train.tsv'} is blank; delete it")


def test_label_outside_the_task_set_names_its_line(tmp_path: Path) -> None:
    rte = "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tcontradiction\n"
    _write(tmp_path, "RTE", rte, rte.replace("contradiction", "not_entailment"))
    message = _both_fail("rte", tmp_path)
    assert message.startswith(
        f"Line 3 of {tmp_path / 'RTE' / 'train.tsv'} has label 'contradiction'; expected one of "
        "'entailment', 'not_entailment' in the 'label' column"
    )


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    # Lines 1-3 are good; line 4 has a Latin-1 "é" (0xe9) after "caf" (3 bytes): column 4.
    _write(tmp_path, "SST-2", GOOD_SST.encode() + b"caf\xe9 \t1\n", GOOD_SST)
    message = _both_fail("sst2", tmp_path)
    assert message.startswith(
        f"Line 4 of {tmp_path / 'SST-2' / 'train.tsv'} is not valid UTF-8 (byte 0xe9 at column 4,"
    )
    assert "re-save the file as UTF-8" in message


def test_invalid_utf8_after_a_bom_and_crlf_counts_the_file_as_an_editor_does(tmp_path: Path) -> None:
    # MRPC's BOM (3 bytes) is skipped by the reader, yet offsets are the file's; CRLF is one line end.
    lines = [MRPC_HEADER.rstrip("\n"), "1\t1\t2\tA\tB", "0\t3\t4\tA\tB\xff"]
    raw = b"\xef\xbb\xbf" + "\r\n".join(lines).encode("latin-1") + b"\r\n"
    _write(tmp_path, "MRPC", raw, GOOD_MRPC)
    message = _both_fail("mrpc", tmp_path)
    # Offset 64 = BOM 3 + header 39 + CRLF 2 + line 2's 9 + CRLF 2 + line 3's "0\t3\t4\tA\tB" 9.
    assert raw.index(b"\xff") == 64
    assert message.startswith(
        f"Line 3 of {tmp_path / 'MRPC' / 'train.tsv'} is not valid UTF-8 (byte 0xff at column 10, "
        "byte offset 64)"
    )


def test_header_only_file_is_an_empty_split(tmp_path: Path) -> None:
    _write(tmp_path, "SST-2", GOOD_SST, SST_HEADER)
    message = _both_fail("sst2", tmp_path)
    assert message.startswith(
        f"GLUE file {tmp_path / 'SST-2' / 'dev.tsv'} has a header (line 1) but no rows"
    )


def test_zero_byte_file_has_no_header(tmp_path: Path) -> None:
    _write(tmp_path, "SST-2", b"", GOOD_SST)
    message = _both_fail("sst2", tmp_path)
    assert message.startswith(f"GLUE file {tmp_path / 'SST-2' / 'train.tsv'} is empty")


def test_the_bom_and_bare_quotes_of_the_real_files_are_accepted(tmp_path: Path) -> None:
    _write(tmp_path, "MRPC", "\ufeff" + GOOD_MRPC, GOOD_MRPC)
    check_task_data("mrpc", tmp_path)
    rows = list(glue_rows(tmp_path / "MRPC" / "train.tsv", ["#1 String", "Quality"]))
    assert rows == [(2, ['"He said', "1"]), (3, ["A cat", "0"])]


def test_every_message_is_one_sentence(tmp_path: Path) -> None:
    _write(tmp_path, "SST-2", GOOD_SST + "x\n", GOOD_SST)
    message = _both_fail("sst2", tmp_path)
    assert "\n" not in message and message.endswith(".")


# ---- SQuAD v2 -----------------------------------------------------------------------------------


def _squad(*articles: dict[str, Any]) -> dict[str, Any]:
    return {"version": "v2.0", "data": list(articles)}


def _article(title: str, qid: str = "q1") -> dict[str, Any]:
    return {
        "title": title,
        "paragraphs": [
            {
                "context": "Paris is in France.",
                "qas": [
                    {"id": qid, "question": "Where?", "answers": [{"text": "France", "answer_start": 12}]},
                    {"id": qid + "n", "question": "Why?", "answers": [], "is_impossible": True},
                ],
            }
        ],
    }


def _write_squad(root: Path, content: str | bytes, name: str = "dev-v2.0.json") -> Path:
    folder = root / "squad_v2"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _squad_fails(root: Path, path: Path) -> str:
    """The check's message, after asserting the loader fails with the same one."""
    with pytest.raises(DataError) as checked:
        check_task_data("squad_v2", root)
    with pytest.raises(DataError) as loaded:
        load_squad_v2_file(path)
    assert checked.value.message == loaded.value.message
    return checked.value.message


def test_squad_good_file_passes(tmp_path: Path) -> None:
    _write_squad(tmp_path, json.dumps(_squad(_article("A"), _article("B", "q2"))))
    check_task_data("squad_v2", tmp_path)
    check_task_data("squad_v2", tmp_path / "glue")  # a GLUE folder next to squad_v2/ serves too


def test_squad_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"No SQuAD 2.0 data in or next to .*dev-v2.0.json"):
        check_task_data("squad_v2", tmp_path)


def test_squad_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    # Line 5 lacks its comma, which json notices where line 6's key starts (column 4).
    text = '{\n "version": "v2.0",\n "data": [\n  {\n   "title": "A"\n   "paragraphs": []\n  }\n ]\n}\n'
    path = _write_squad(tmp_path, text)
    message = _squad_fails(tmp_path, path)
    assert message.startswith(f"Line 6, column 4 of {path} is not valid JSON (Expecting ',' delimiter)")


def test_squad_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    text = json.dumps(_squad(_article("A"), _article("B", "q2")), indent=1)
    # The first context, '    "context": "Paris is in France.",', is line 8; 0xef replaces its "i".
    raw = text.encode().replace(b"Paris", b"Par\xefs", 1)
    path = _write_squad(tmp_path, raw)
    message = _squad_fails(tmp_path, path)
    assert message.startswith(f"Line 8 of {path} is not valid UTF-8 (byte 0xef at column 21,")


def test_squad_without_data_list(tmp_path: Path) -> None:
    path = _write_squad(tmp_path, '\n  {"version": "v2.0", "articles": []}')
    message = _squad_fails(tmp_path, path)
    assert message.startswith(
        f"Line 2, column 3 of {path}: the file is not a JSON object with a 'data' list of articles;"
    )


def test_squad_article_without_paragraphs(tmp_path: Path) -> None:
    broken = _squad(_article("A"), {"title": "B"})
    path = _write_squad(tmp_path, json.dumps(broken, indent=1))
    assert path.read_text().splitlines()[29:31] == ["  {", '   "title": "B"']
    message = _squad_fails(tmp_path, path)
    # The second article's brace: line 30, column 3 (indent=1, two levels deep).
    assert message.startswith(
        f"Line 30, column 3 of {path}: the article data[1] has no 'paragraphs' list;"
    )


def test_squad_paragraph_without_qas_on_one_long_line(tmp_path: Path) -> None:
    # Official files are one line: the column is what finds the place.
    broken = _squad(_article("A"), {"title": "B", "paragraphs": [{"context": "c"}]})
    text = json.dumps(broken)
    path = _write_squad(tmp_path, text)
    column = text.index('{"context": "c"}') + 1
    message = _squad_fails(tmp_path, path)
    assert message.startswith(
        f"Line 1, column {column} of {path}: the paragraph data[1].paragraphs[0] has no 'qas' list"
    )


def test_squad_question_without_text(tmp_path: Path) -> None:
    broken = _article("B")
    del broken["paragraphs"][0]["qas"][1]["question"]
    path = _write_squad(tmp_path, json.dumps(_squad(_article("A"), broken)))
    message = _squad_fails(tmp_path, path)
    assert "malformed question data[1].paragraphs[0].qas[1] has no 'question' string" in message


def test_squad_without_questions_is_an_empty_split(tmp_path: Path) -> None:
    path = _write_squad(tmp_path, json.dumps(_squad({"title": "A", "paragraphs": []})))
    message = _squad_fails(tmp_path, path)
    assert message.startswith(f"Line 1, column 29 of {path}: the file holds no questions")


def test_squad_dev_only_needs_two_articles(tmp_path: Path) -> None:
    _write_squad(tmp_path, json.dumps(_squad(_article("A"))))
    with pytest.raises(DataError, match="split by article.*holds 1 article title"):
        check_task_data("squad_v2", tmp_path)
    _write_squad(tmp_path, json.dumps(_squad(_article("T"))), name="train-v2.0.json")
    check_task_data("squad_v2", tmp_path)  # with a train file, the dev set is not split


def test_squad_bad_train_file_is_checked_too(tmp_path: Path) -> None:
    _write_squad(tmp_path, json.dumps(_squad(_article("A"), _article("B", "q2"))))
    train = _write_squad(tmp_path, "{", name="train-v2.0.json")
    with pytest.raises(DataError, match=f"Line 1, column 2 of {train} is not valid JSON"):
        check_task_data("squad_v2", tmp_path)


# ---- real files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("task_name", ["mrpc", "sst2", "rte", "squad_v2"])
def test_every_real_file_passes(glue_dir: Path, squad_dir: Path, task_name: str) -> None:
    check_task_data(task_name, glue_dir)  # one --data-dir: squad_v2/ is found next to glue/
    if task_name == "squad_v2":
        check_task_data(task_name, squad_dir.parent)
        check_task_data(task_name, squad_dir)


def test_the_real_unlabelled_test_files_parse_too(glue_dir: Path) -> None:
    # The loader never reads them, but the row reader takes them (1725 and 3000 rows).
    mrpc = list(glue_rows(glue_dir / "MRPC" / "test.tsv", ["#1 String", "#2 String"]))
    rte = list(glue_rows(glue_dir / "RTE" / "test.tsv", ["sentence1", "sentence2"]))
    assert (len(mrpc), len(rte)) == (1725, 3000)
    assert mrpc[-1][0] == 1726 and rte[-1][0] == 3001  # the header is line 1


def test_checking_the_real_sst2_train_file_is_fast(glue_dir: Path) -> None:
    started = time.perf_counter()
    check_task_data("sst2", glue_dir)  # 67,349 + 872 rows
    assert time.perf_counter() - started < 2.0


# ---- the workflow: which folder, and which tasks ------------------------------------------------


def _workflow(tasks: list[str], **data: Any) -> Workflow:
    return Workflow.model_validate({
        "name": "t", "model": "bundled-minilm", "tasks": tasks, "data": data,
        "methods": {"lora": {"sweep": {"method": "grid", "parameters": {
            "learning_rate": {"values": [1.0e-4]}, "lora_r": {"value": 8}}}}},
    })  # fmt: skip


def test_workflow_check_uses_the_folder_a_job_would(tmp_path: Path) -> None:
    good = _write(tmp_path / "good", "SST-2", GOOD_SST, GOOD_SST)
    bad = _write(tmp_path / "bad", "SST-2", GOOD_SST + "x\n", GOOD_SST)
    check_workflow_data(_workflow(["sst2"]), good)
    with pytest.raises(DataError, match="Line 4 of .*bad/SST-2/train.tsv"):
        check_workflow_data(_workflow(["sst2"]), bad)
    # The command's folder wins over the workflow's data.dir, which serves when there is none.
    check_workflow_data(_workflow(["sst2"], dir=str(bad)), good)
    with pytest.raises(DataError, match="bad/SST-2/train.tsv"):
        check_workflow_data(_workflow(["sst2"], dir=str(bad)), None)
    # source: hub reads no local folder; auto without a folder means the Hub too.
    check_workflow_data(_workflow(["sst2"], source="hub"), bad)
    check_workflow_data(_workflow(["sst2"]), None)
    with pytest.raises(DataError, match="asks for local data but no data folder is set"):
        check_workflow_data(_workflow(["sst2"], source="local"), None)


def test_workflow_check_covers_every_task(tmp_path: Path) -> None:
    root = _write(tmp_path, "SST-2", GOOD_SST, GOOD_SST)
    with pytest.raises(DataError, match="MRPC/train.tsv not found"):
        check_workflow_data(_workflow(["sst2", "mrpc"]), root)


def test_unknown_task_is_refused_by_the_workflow_first() -> None:
    with pytest.raises(SpecError):
        _workflow(["qnli"])
    with pytest.raises(SweepfirstError, match="Unknown task 'qnli'"):
        check_task_data("qnli", Path("."))


# ---- no retry fixes bad data, and checking it stays light ---------------------------------------


def test_data_and_model_errors_are_not_retryable() -> None:
    assert SweepfirstError.retryable is True
    assert DataError.retryable is False and DataError("x").retryable is False
    assert ModelError.retryable is False


def test_the_check_imports_no_torch_transformers_or_datasets(glue_dir: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sweepfirst.training.data_check import check_task_data\n"
        "for task in ('mrpc', 'sst2', 'rte', 'squad_v2'):\n"
        "    check_task_data(task, Path(sys.argv[1]))\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(glue_dir)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
