"""Child process for tests/test_fuzz.py: runs one case per JSON line from stdin and
answers with one JSON line. A native crash (signal) or a hang in a case kills this
process, not the test run, which is how the test tells them from errors.

A case: {"op": "cli", "argv": [...], "cache": DIR} runs the real CLI in this process;
{"op": "load_image" | "load_labels", "path": FILE} calls the library directly.
"""
from __future__ import annotations

import json
import os
import sys
import traceback

import paddle  # noqa: F401  (Paddle before TensorFlow: see inspect_model.import_tensorflow)

ANSWER = "@@fuzz-answer@@ "


def run_case(case: dict) -> dict:
    if case["op"] == "cli":
        from typer.testing import CliRunner

        from ppocr_convert.cli import app
        os.environ["PPOCR_CONVERT_CACHE"] = case["cache"]
        result = CliRunner().invoke(app, case["argv"])
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        return {"exit": result.exit_code, "output": result.output,
                "exception": "".join(traceback.format_exception(result.exception)) if crashed else None}
    from ppocr_convert.errors import ConvertError
    from ppocr_convert.ocr.image_io import ImageLoadError, load_image
    from ppocr_convert.parity.labels import load_labels
    expected = (ImageLoadError,) if case["op"] == "load_image" else (ConvertError,)
    try:
        (load_image if case["op"] == "load_image" else load_labels)(case["path"])
        return {"exit": 0, "output": "", "exception": None}
    except expected as e:
        hint = getattr(e, "hint", None) or ""
        return {"exit": 1, "output": f"error: {e}\nhint: {hint}" if hint else f"error: {e}", "exception": None}
    except Exception:
        return {"exit": 1, "output": "", "exception": traceback.format_exc()}


def main() -> None:
    for line in sys.stdin:
        answer = run_case(json.loads(line))
        # native libraries may write to fd 1 too: the parent reads only marked lines
        sys.stdout.write(ANSWER + json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
