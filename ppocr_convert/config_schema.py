"""What a model or pipeline config may say: pydantic models, one per table.

Every table forbids keys it does not know, so a typo (`preproces`, `max_ab`) is an
error at load time instead of a setting silently ignored. The keys are the ones the
code reads (ocr.det.DetParams / ocr.rec.RecParams / ocr.cls.ClsParams through
model_params, the deployment recipe in chain/conversion.py, `widths`, the sources and
the dictionary); the tolerance metrics are the figures the parity code measures.
config.py turns the validation errors into one ConfigError naming file and key path.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model, model_validator

STAGES = ("paddle", "onnx-raw", "onnx", "tflite-fp32", "tflite-fp16", "tflite-int8")
TARGETS = STAGES[1:]  # every stage but the reference; tolerances judge these
# the targets onnx2tf makes directly (tflite-int8 is quantized from tflite-fp32 on top)
FLOAT_TARGETS = tuple(t for t in TARGETS if t != "tflite-int8")
TASKS = ("det", "rec", "cls")

# Value ranges of tolerance metrics: an agreement, F1 or accuracy is a share in [0, 1];
# an absolute error or CER is >= 0 (lower is better); cosine similarity is in [-1, 1].
SHARE = {"ge": 0.0, "le": 1.0}
ERROR = {"ge": 0.0}
COSINE = {"ge": -1.0, "le": 1.0}

# Model configs' [tolerances.<stage>]: same-input figures of one stage against the one
# before it, as tests/test_integration_convert.py's chain_parity measures them; a det
# model's outputs are a probability map (binarised agreement), rec/cls outputs class
# probabilities (argmax agreement). A metric the task never measures would never be checked.
MODEL_METRICS = {
    "det": {"max_abs": ERROR, "mean_abs": ERROR, "binary_agreement": SHARE},
    "rec": {"max_abs": ERROR, "mean_abs": ERROR, "argmax_agreement": SHARE},
    "cls": {"max_abs": ERROR, "mean_abs": ERROR, "argmax_agreement": SHARE},
}

# Pipeline configs' [tolerances.<view>.<stage>]: the per-stage figures
# the parity metric table (parity/metric_table.py) defines for each view;
# tests/test_config_validation.py checks that the two name the same metrics).
PIPELINE_METRICS = {
    "same_input": {"det_max_abs": ERROR, "det_mean_abs": ERROR, "det_cosine_min": COSINE,
                   "det_binary_agreement": SHARE, "rec_max_abs": ERROR, "rec_argmax_agreement": SHARE,
                   "line_text_agreement": SHARE},
    "pipeline": {"det_precision": SHARE, "det_recall": SHARE, "det_f1": SHARE, "line_exact_match": SHARE,
                 "cer": ERROR, "text_agreement": SHARE},
    "ground_truth": {"gt_det_recall": SHARE, "gt_det_precision": SHARE, "gt_line_accuracy": SHARE,
                     "gt_cer": ERROR},
}


class Table(BaseModel):
    """A TOML table: unknown keys are errors; no type coercion ("640" is not an int).
    `key_kind` names what this table's keys are, for the unknown-key message."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)
    key_kind: ClassVar[str] = "key"


PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


def _sha256_hex(text: str) -> str:
    if not (len(text) == 64 and all(c in "0123456789abcdef" for c in text)):
        raise ValueError(f"sha256 {text!r} is not 64 lowercase hex digits")
    return text


Sha256 = Annotated[str, AfterValidator(_sha256_hex)]
Triple = Annotated[list[float], Field(min_length=3, max_length=3)]
# the OCR pipeline feeds BGR (OpenCV order, as PaddleOCR trains): any other value would be
# written into manifests while the parity harness still fed BGR
ChannelOrder = Literal["BGR"]


def _known_pass(name: str) -> str:
    from .passes.manager import REGISTRY  # lazily: it imports onnx
    if name not in REGISTRY:
        import difflib
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        raise ValueError(f"unknown pass {name!r}" + (f" (did you mean {close[0]!r}?)" if close else
                                                     f"; passes: {', '.join(sorted(REGISTRY))}"))
    return name


PassName = Annotated[str, AfterValidator(_known_pass)]


# ---- [[sources]] and [dictionary] ---------------------------------------------------

class Source(Table):
    kind: Literal["package", "official"]
    package: str | None = None  # distribution name (its version goes into manifests)
    module: str | None = None   # importable name the files are found under
    path: str | None = None
    url: str | None = None
    # official: the archive's digest; package: {file name: digest} (or one digest for a file)
    sha256: Sha256 | dict[str, Sha256] | None = None

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "Source":
        if self.kind == "package" and not (self.package and self.module and self.path):
            raise ValueError("a package source needs `package`, `module` and `path`")
        if self.kind == "official" and not self.url:
            raise ValueError("an official source needs `url`")
        if self.kind == "official" and isinstance(self.sha256, dict):
            raise ValueError("an official source pins its archive with one sha256 string")
        return self


class Dictionary(Table):
    package: str
    module: str
    path: str
    sha256: Sha256 | None = None


# ---- [preprocess] / [postprocess] per task --------------------------------------------

class DetPreprocess(Table):
    limit_side_len: PositiveInt | None = None
    limit_type: Literal["max", "min", "resize_long"] | None = None
    max_side_limit: PositiveInt | None = None
    mean: Triple | None = None
    std: Triple | None = None
    scale: PositiveFloat | None = None
    channel_order: ChannelOrder | None = None
    resize_mode: Literal["letterbox", "stretch"] | None = None
    pad_value: Annotated[int, Field(ge=0, le=255)] | None = None
    upscale: bool | None = None


class DetPostprocess(Table):
    thresh: Share | None = None
    box_thresh: Share | None = None
    unclip_ratio: PositiveFloat | None = None
    max_candidates: PositiveInt | None = None
    score_mode: Literal["fast", "slow"] | None = None
    use_dilation: bool | None = None


class LinePreprocess(Table):
    """rec and cls: a text-line crop resized to `height` (and `width`), normalised."""

    height: PositiveInt | None = None
    width: PositiveInt | None = None
    # one value for every channel, or one per channel (model_params collapses equal ones)
    mean: float | Triple | None = None
    std: float | Triple | None = None
    scale: PositiveFloat | None = None
    channel_order: ChannelOrder | None = None


class RecPreprocess(LinePreprocess):
    max_width: PositiveInt | None = None  # cap on a dynamic model's input width


class RecPostprocess(Table):
    use_space_char: bool | None = None
    batch_size: PositiveInt | None = None


class ClsPostprocess(Table):
    labels: Annotated[list[str], Field(min_length=2)] | None = None
    thresh: Share | None = None
    batch_size: PositiveInt | None = None


# ---- tolerances -------------------------------------------------------------------------

class MetricLimits(Table):
    key_kind: ClassVar[str] = "metric"


class StageTable(Table):
    key_kind: ClassVar[str] = "stage"


class ViewTable(Table):
    key_kind: ClassVar[str] = "view"


def _limits(name: str, metrics: dict[str, dict]) -> type[Table]:
    """{metric: limit}, each metric optional and within its range."""
    fields = {m: (Annotated[float, Field(**bounds)] | None, None) for m, bounds in metrics.items()}
    return create_model(name, __base__=MetricLimits, **fields)


def _per_stage(name: str, limits: type[Table]) -> type[Table]:
    """{stage: limits}; stage names are not identifiers (`onnx-raw`), hence aliases."""
    fields = {s.replace("-", "_"): (limits | None, Field(None, alias=s)) for s in TARGETS}
    return create_model(name, __base__=StageTable, **fields)


DetTolerances = _per_stage("DetTolerances", _limits("DetLimits", MODEL_METRICS["det"]))
RecTolerances = _per_stage("RecTolerances", _limits("RecLimits", MODEL_METRICS["rec"]))
ClsTolerances = _per_stage("ClsTolerances", _limits("ClsLimits", MODEL_METRICS["cls"]))
PipelineTolerances = create_model(
    "PipelineTolerances", __base__=ViewTable,
    **{view: (_per_stage(f"{view}_stages", _limits(f"{view}_limits", metrics)) | None, None)
       for view, metrics in PIPELINE_METRICS.items()})


# ---- [int8]: the tflite-int8 stage's mixed-precision search and ground-truth gate -------------

class Int8Options(Table):
    keep: Literal["float", "int16"] | None = None          # how a block kept out of int8 runs
    max_accuracy_drop: Share | None = None                  # gate: vs fp32 on the gate pages
    max_cer_rise: Share | None = None
    max_blocks: Annotated[int, Field(ge=0)] | None = None   # search budget (blocks kept out of int8)
    sensitivity_samples: PositiveInt | None = None
    bias_correction: Annotated[int, Field(ge=0)] | None = None  # samples measuring input means; 0: off
    activation_bits: Literal[8, 16] | None = None             # 16: a16w8 (TFLite's 16x8 kernels)
    float_outputs: bool | None = None                         # the ops writing the model output stay float
    float_first_stage: bool | None = None                     # det: the stem up to its 2nd downsampling stays float
    # rec: gate pages (seed 2) a bucket may draw lines of its own width from (the first 12 and more)
    gate_pages: Annotated[int, Field(ge=12, le=400)] | None = None
    # activation ranges: the central percentile of the calibration values (100: min/max)
    activation_percentile: Annotated[float, Field(gt=50, le=100)] | None = None
    # every activation range but the input's widened by this factor (int16: headroom is cheap)
    activation_range_margin: Annotated[float, Field(ge=1)] | None = None
    # HARD_SWISH as ADD+RELU6 and MUL (chain/integer_hard_swish.py): inside XNNPACK at int8
    rewrite_hard_swish: bool | None = None
    # Erf-form GELU as x * sigmoid(1.702 x) (chain/integer_gelu.py): inside XNNPACK at int8
    rewrite_gelu: bool | None = None
    # kernel == stride TRANSPOSE_CONV as a 1x1 CONV_2D and a pixel shuffle (chain/integer_transpose_conv.py)
    rewrite_transpose_conv: bool | None = None
    # depthwise kernels above 5x5 as summed pieces of at most 5x5 (chain/integer_large_depthwise.py)
    rewrite_large_depthwise: bool | None = None
    # RELU(MINIMUM(x, c)) as MUL with a fused RELU6 and MUL (chain/integer_clip.py): inside XNNPACK at int8
    rewrite_clip: bool | None = None


# ---- whole files --------------------------------------------------------------------------

class ModelFile(Table):
    """A model config after `extends` is merged; [preprocess], [postprocess] and
    [tolerances] are typed by the task's subclass (loose here, for a file whose task
    itself is wrong: its other keys are still checked)."""

    extends: str | None = None
    name: str
    task: Literal["det", "rec", "cls"]
    family: str = ""
    description: str = ""
    input_name: str
    shape: Annotated[list[PositiveInt], Field(min_length=4, max_length=4)]  # NCHW
    opset: Annotated[int, Field(ge=7)]
    passes: list[PassName]
    targets: list[Literal[TARGETS]] | None = None
    sources: list[Source] = []
    preprocess: dict = {}
    postprocess: dict = {}
    tolerances: dict = {}
    int8: Int8Options | None = None


class DetModelFile(ModelFile):
    preprocess: DetPreprocess = DetPreprocess()
    postprocess: DetPostprocess = DetPostprocess()
    tolerances: DetTolerances | None = None


class LineModelFile(ModelFile):
    """rec and cls: the input height is the crops' height."""

    num_classes: PositiveInt | None = None

    @model_validator(mode="after")
    def _height_matches_shape(self) -> "LineModelFile":
        height = self.preprocess.height
        if height is not None and height != self.shape[2]:
            raise ValueError(f"preprocess.height {height} differs from the input height shape[2] = {self.shape[2]}")
        return self


class RecModelFile(LineModelFile):
    preprocess: RecPreprocess = RecPreprocess()
    postprocess: RecPostprocess = RecPostprocess()
    tolerances: RecTolerances | None = None
    dictionary: Dictionary
    # static width buckets built in one conversion (chain.conversion.static_shapes)
    widths: Annotated[list[PositiveInt], Field(min_length=1)] | None = None


class ClsModelFile(LineModelFile):
    preprocess: LinePreprocess = LinePreprocess()
    postprocess: ClsPostprocess = ClsPostprocess()
    tolerances: ClsTolerances | None = None


MODEL_FILES = {"det": DetModelFile, "rec": RecModelFile, "cls": ClsModelFile}


class PipelineFile(Table):
    name: str
    det: str  # model config names; config.py checks they exist and have that task
    rec: str
    cls: str | None = None
    drop_score: Share = 0.5
    tolerances: PipelineTolerances | None = None
