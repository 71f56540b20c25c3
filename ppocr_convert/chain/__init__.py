"""The conversion chain: source → onnx-raw (front-end) → onnx (passes) → tflite (back-end)
→ dist/ (publish), each stage cached by content.

- `sources`: where a model's weights come from (packages, --model-dir, --download)
- `frontend`: paddle2onnx in a child process, plus the graph repairs its output needs
- `passes_runner`: the `onnx` stage, the configured graph passes at one static shape
- `backend`: onnx2tf in a child process (FP32 + FP16)
- `stage_cache`: the content-addressed cache every stage goes through
- `manifest`: what each artifact's manifest.json says, and the deployment recipe
- `publish`: writing dist/<model>/<target>/ atomically
- `conversion`: the Conversion object that runs them in order
"""
