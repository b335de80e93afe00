"""Transformations without Flask: reading a request, its canonical form and bounds, and applying it to real photos."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.fixtures.media import corpus_file
from webapp import imaging, transforms
from webapp.errors import InvalidInput
from webapp.transforms import Limits, Source

PHOTO = Source(4000, 3000, "jpeg")


def canonical(raw, source=PHOTO, limits=Limits()) -> str:
    return transforms.parse(raw, source, limits).canonical


def refusal(raw, source=PHOTO, limits=Limits()) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        transforms.parse(raw, source, limits)
    return refused.value


def run(path, raw) -> tuple[Image.Image, transforms.Transformation]:
    """Apply `raw` to the file at `path` (sized by probing it); the decoded result and the plan."""
    probe = imaging.probe(path)
    plan = transforms.parse(raw, Source(probe.width, probe.height, transforms.format_of(probe.mime_type)))
    data, width, height, mime_type = transforms.apply(path, plan)
    result = Image.open(io.BytesIO(data))
    result.load()
    assert (width, height) == plan.size == result.size
    assert mime_type == plan.mime_type == Image.MIME[result.format]
    return result, plan


def picture(tmp_path, size=(40, 30), mode="RGB", colour=(0, 0, 255), marks=(), name="p.png"):
    """A flat picture with single-colour marks {(x, y): colour}, saved as PNG."""
    image = Image.new(mode, size, colour)
    for spot, mark in dict(marks).items():
        image.putpixel(spot, mark)
    path = tmp_path / name
    image.save(path)
    return path


# --- the canonical form ----------------------------------------------------------------------

@pytest.mark.parametrize("requests", [
    [{"resize": {"width": 400}}, {"resize": {"height": 300}}, {"resize": {"width": 400, "height": 300, "fit": "fill"}},
     {"resize": {"width": 400, "height": 300}}, {"resize": {"width": 400, "height": 300, "fit": "inside"}},
     {"resize": {"width": 400, "height": 1000, "fit": "inside"}}, {"resize": {"width": 400, "height": 300, "fit": "contain"}}],
    [{"format": "jpeg"}, {"format": "JPG"}, {"quality": 85}, {"format": "jpeg", "quality": 85}],
    [{"rotate": -90}, {"rotate": 270}, {"rotate": 630 - 360}],
    [{"rotate": 180}, {"flip": True, "mirror": True}],
    [{"rotate": 90, "flip": True, "mirror": True}, {"rotate": 270}],
    [{"filters": {"sepia": True}}, {"filters": {"grayscale": True, "sepia": True}}],
    [{"crop": {"x": 0, "y": 0, "width": 4000, "height": 3000}, "format": "png"}, {"format": "png"}],
    [{"rotate": 90, "background": "#ff0000"}, {"rotate": 90}, {"rotate": 90, "flip": False, "filters": {}}],
    [{"format": "webp", "resize": {"width": 10}, "crop": {"x": 1, "y": 2, "width": 30, "height": 20}},
     {"crop": {"height": 20, "width": 30, "y": 2, "x": 1}, "resize": {"width": 10}, "format": "webp"}],
])
def test_requests_with_the_same_result_have_one_canonical_form(requests):
    forms = {canonical(raw) for raw in requests}
    assert len(forms) == 1, forms


@pytest.mark.parametrize("first, second", [
    ({"resize": {"width": 400, "height": 400, "fit": "cover"}}, {"resize": {"width": 400, "height": 400, "fit": "contain"}}),
    ({"resize": {"width": 400, "height": 400, "fit": "fill"}}, {"resize": {"width": 400, "height": 400, "fit": "inside"}}),
    ({"rotate": 45, "format": "png"}, {"rotate": 45, "format": "png", "background": "#ffffff"}),
    ({"flip": True}, {"mirror": True}),
    ({"format": "webp"}, {"format": "webp", "quality": 81}),
    ({"filters": {"grayscale": True}}, {"filters": {"sepia": True}}),
])
def test_requests_with_different_results_differ(first, second):
    assert canonical(first) != canonical(second)


def test_the_canonical_form_lists_every_step_in_the_fixed_order():
    form = canonical({"quality": 70, "filters": {"sepia": True}, "mirror": True, "flip": True, "rotate": 30,
                      "resize": {"width": 300, "height": 300, "fit": "contain"}, "format": "avif",
                      "crop": {"x": 10, "y": 20, "width": 1000, "height": 800}})
    assert form == "crop=10,20,1000,800;resize=300x300,contain;rotate=30;bg=00000000;flip;mirror;sepia;format=avif;q=70"


def test_the_longest_request_stays_within_the_variant_spec_column():
    big = Source(30_000, 30_000, "jpeg")
    form = canonical({"crop": {"x": 29_000, "y": 29_000, "width": 999, "height": 999}, "format": "jpeg",
                      "resize": {"width": 8192, "height": 4096, "fit": "contain"}, "rotate": -359, "flip": True,
                      "mirror": True, "filters": {"sepia": True}, "quality": 100, "background": "#12345678"}, big,
                     Limits(max_side=20_000, max_pixels=400_000_000))
    assert len("t:" + form) <= 200


@pytest.mark.parametrize("source, expected", [
    (Source(10, 10, "jpeg"), "format=jpeg;q=85"), (Source(10, 10, "png"), "format=png"),
    (Source(10, 10, "gif"), "format=gif"), (Source(10, 10, "webp"), "format=webp;q=80"),
    (Source(10, 10, "avif"), "format=avif;q=60"), (Source(10, 10, None), "format=webp;q=80"),  # BMP, TIFF
])
def test_the_format_defaults_to_the_originals_when_it_can_be_written(source, expected):
    assert canonical({"flip": True}, source) == "flip;" + expected


def test_sizes_are_known_before_anything_is_decoded():
    plan = transforms.parse({"crop": {"x": 0, "y": 0, "width": 1000, "height": 500},
                             "resize": {"width": 300}, "rotate": 90}, PHOTO)
    assert plan.size == (150, 300)


@pytest.mark.parametrize("angle", [1, 17, 30, 45, 89, 91, 135, 200, 269, 271, 333, 359])
@pytest.mark.parametrize("size", [(1, 1), (17, 5), (640, 480), (4000, 3000)])
def test_free_angles_give_the_canvas_pillow_makes(angle, size):
    assert transforms.rotated_size(*size, angle) == Image.new("1", size).rotate(-angle, expand=True).size


# --- refused before any pixel is allocated -----------------------------------------------------

@pytest.mark.parametrize("raw", [
    {}, None, [], "resize", {"flip": False}, {"filters": {}},
    {"resize": {"width": 0}}, {"resize": {"width": -5}}, {"resize": {"width": "100"}}, {"resize": {"width": 1.5}},
    {"resize": {"width": 100.0}}, {"resize": {"width": True}}, {"resize": {"height": None}}, {"resize": {}},
    {"resize": {"width": 8193}}, {"resize": {"width": 100, "height": 100, "fit": "stretch"}},
    {"resize": {"width": 100, "depth": 3}}, {"resize": 100}, {"resize": {"width": 8000, "height": 8000}},
    {"resize": {"width": 8192}},  # 8192 x 6144: more pixels than allowed
    {"crop": {"x": 0, "y": 0, "width": 4001, "height": 10}}, {"crop": {"x": 3990, "y": 0, "width": 20, "height": 10}},
    {"crop": {"x": -1, "y": 0, "width": 10, "height": 10}}, {"crop": {"x": 0, "y": 0, "width": 0, "height": 10}},
    {"crop": {"x": 0, "y": 0, "width": 10}}, {"crop": {"x": 0, "y": 0, "width": 10, "height": 10, "z": 1}},
    {"crop": [0, 0, 10, 10]}, {"crop": {"x": "0", "y": 0, "width": 10, "height": 10}},
    {"rotate": 45.5}, {"rotate": 361}, {"rotate": "90"}, {"rotate": True},
    {"flip": "yes"}, {"mirror": 1}, {"format": "bmp"}, {"format": "tiff"}, {"format": 3},
    {"quality": 0}, {"quality": 101}, {"quality": "high"}, {"quality": 80, "format": "png"},
    {"filters": {"blur": True}}, {"filters": {"grayscale": "yes"}}, {"filters": ["sepia"]},
    {"background": "red", "rotate": 45}, {"background": "#12345", "rotate": 45}, {"background": 0xFFFFFF},
    {"resize": {"width": 100}, "sharpen": True},
    {"rotate": 45, "resize": {"width": 8000, "height": 4000}},  # the turned canvas would exceed 8192
    {"resize": {"width": 16384, "height": 100}, "format": "webp"},  # WebP's own limit
])
def test_bad_input_is_one_sentence_naming_the_problem(raw):
    limits = Limits(max_side=8192, max_pixels=40_000_000) if "webp" not in str(raw) else Limits(20_000, 40_000_000)
    error = refusal(raw, limits=limits)
    assert error.status == 400 and error.code == "invalid_transformation"
    assert error.message.endswith(".") and "\n" not in error.message


def test_limits_come_from_the_configuration():
    assert transforms.parse({"resize": {"width": 2000}}, PHOTO, Limits(max_side=2000)).size == (2000, 1500)
    assert "from 1 to 1000" in refusal({"resize": {"width": 2000}}, limits=Limits(max_side=1000)).message
    assert "5000000 pixels" in refusal({"resize": {"width": 3000}}, limits=Limits(max_pixels=5_000_000)).message


def test_a_crop_outside_the_picture_says_so():
    assert "inside the 4000x3000 image" in refusal({"crop": {"x": 3000, "y": 0, "width": 1001, "height": 5}}).message


# --- applying it ---------------------------------------------------------------------------------

def test_crop_takes_exactly_the_box(tmp_path):
    path = picture(tmp_path, marks={(10, 5): (255, 0, 0), (19, 14): (0, 255, 0)})
    result, _ = run(path, {"crop": {"x": 10, "y": 5, "width": 10, "height": 10}, "format": "png"})
    assert result.size == (10, 10)
    assert result.convert("RGB").getpixel((0, 0)) == (255, 0, 0) and result.convert("RGB").getpixel((9, 9)) == (0, 255, 0)


@pytest.mark.parametrize("raw, red_ends_up_at", [
    ({"rotate": 90}, "top right"), ({"rotate": 180}, "bottom right"), ({"rotate": -90}, "bottom left"),
    ({"flip": True}, "bottom left"), ({"mirror": True}, "top right"), ({"rotate": 90, "mirror": True}, "top left"),
])
def test_turns_are_clockwise_flip_is_upside_down_and_mirror_is_left_to_right(tmp_path, raw, red_ends_up_at):
    path = picture(tmp_path, size=(4, 2), marks={(0, 0): (255, 0, 0)})
    result, _ = run(path, {**raw, "format": "png"})
    width, height = result.size
    corners = {"top left": (0, 0), "top right": (width - 1, 0), "bottom left": (0, height - 1),
               "bottom right": (width - 1, height - 1)}
    assert result.convert("RGB").getpixel(corners[red_ends_up_at]) == (255, 0, 0)


@pytest.mark.parametrize("fit, size", [("cover", (300, 300)), ("contain", (300, 300)), ("fill", (300, 300)),
                                       ("inside", (300, 225))])
def test_every_fit_gives_its_size_from_a_real_12_mp_class_photo(fit, size):
    result, _ = run(corpus_file("photos", "HMD_Nokia_8.3_5G.jpg"),
                    {"resize": {"width": 300, "height": 300, "fit": fit}, "format": "webp"})
    if fit == "inside":
        assert result.width == 300 and result.height < 300
    else:
        assert result.size == size


def test_contain_pads_with_transparency_where_the_format_has_it_and_white_where_not(tmp_path):
    path = picture(tmp_path, size=(40, 20))
    padded, _ = run(path, {"resize": {"width": 40, "height": 40, "fit": "contain"}, "format": "png"})
    assert padded.mode == "RGBA" and padded.getpixel((0, 0))[3] == 0 and padded.getpixel((20, 20)) == (0, 0, 255, 255)
    flat, _ = run(path, {"resize": {"width": 40, "height": 40, "fit": "contain"}, "format": "jpeg"})
    assert all(channel > 245 for channel in flat.getpixel((0, 0)))
    coloured, _ = run(path, {"resize": {"width": 40, "height": 40, "fit": "contain"}, "format": "png",
                             "background": "#ff0000"})
    assert coloured.getpixel((0, 0)) == (255, 0, 0, 255)


def test_greyscale_is_grey_and_sepia_is_warm(tmp_path):
    path = picture(tmp_path, colour=(30, 140, 200))
    grey, _ = run(path, {"filters": {"grayscale": True}, "format": "png"})
    assert grey.mode == "L"
    sepia, _ = run(path, {"filters": {"sepia": True}, "format": "png"})
    red, green, blue = sepia.convert("RGB").getpixel((5, 5))
    assert red > green > blue


@pytest.mark.parametrize("name", ["hopper.jpg", "hopper.png", "hopper.gif", "hopper.webp", "hopper.avif", "hopper.bmp",
                                  "hopper.tif"])
@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "avif", "gif"])
def test_every_accepted_format_becomes_every_output_format(name, fmt):
    result, _ = run(corpus_file("formats", name), {"resize": {"width": 64}, "rotate": 30, "format": fmt})
    assert result.format == transforms.FORMATS[fmt][0]


@pytest.mark.parametrize("name", ["animated-5-frames.gif", "animated-42-frames.webp"])
def test_an_animation_gives_a_still_of_its_first_frame(name):
    path = corpus_file("formats", name)
    result, _ = run(path, {"mirror": True})
    assert getattr(result, "n_frames", 1) == 1
    with Image.open(path) as animation:
        first = animation.convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert result.convert("RGB").resize((8, 8)).getpixel((4, 4)) == pytest.approx(
        first.resize((8, 8)).getpixel((4, 4)), abs=40)


def test_no_metadata_travels_into_a_result():
    result, _ = run(corpus_file("photos", "DSCN0010.jpg"), {"resize": {"width": 200}, "format": "jpeg"})
    assert not result.getexif() and "xmp" not in result.info


@pytest.mark.parametrize("name", ["Canon_40D.jpg", "HMD_Nokia_8.3_5G.jpg", "iphone_hdr_YES.jpg", "IMG_5195.HEIC"])
def test_real_photos_crop_and_resize_to_the_planned_size(name):
    path = corpus_file("photos", name)
    probe = imaging.probe(path)
    box = {"x": probe.width // 4, "y": probe.height // 4, "width": probe.width // 2, "height": probe.height // 3}
    result, plan = run(path, {"crop": box, "resize": {"width": 100, "height": 80, "fit": "cover"}, "format": "jpeg"})
    assert result.size == (100, 80) and plan.crop == tuple(box.values())


def test_a_big_jpeg_is_decoded_at_reduced_scale_for_a_small_result(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4000, 3000), (200, 100, 50)).save(path, quality=90)
    plan = transforms.parse({"resize": {"width": 400}}, Source(4000, 3000, "jpeg"))
    with Image.open(path) as im:
        transforms._cropped_and_resized(im, plan)
        assert im.size == (500, 375)  # libjpeg decoded it at 1/8 scale, still above the target


def test_the_preview_is_the_same_transformation_from_the_small_copy():
    plan = transforms.parse({"crop": {"x": 400, "y": 300, "width": 2000, "height": 1500},
                             "resize": {"width": 1000, "height": 750, "fit": "cover"}, "rotate": 90}, PHOTO)
    preview = transforms.for_preview(plan, (800, 600), 800)
    assert preview.crop == (80, 60, 400, 300) and preview.rotate == 90 and preview.format == plan.format
    assert preview.size == (300, 400)  # the copy's 400 x 300 region at its own resolution, turned


@pytest.mark.parametrize("raw, size", [
    ({"resize": {"width": 800}}, (800, 600)),  # the copy is already the result's size
    ({"resize": {"width": 3000}}, (800, 600)),  # bounded by the preview's side
    ({"crop": {"x": 0, "y": 0, "width": 400, "height": 300}, "resize": {"width": 1200}}, (240, 180)),  # enlarged 3x
    ({"crop": {"x": 0, "y": 0, "width": 400, "height": 300}, "format": "png"}, (80, 60)),  # never enlarged more
])
def test_a_preview_never_enlarges_the_copy_more_than_the_result_enlarges_the_original(raw, size):
    assert transforms.for_preview(transforms.parse(raw, PHOTO), (800, 600), 800).size == size


def test_a_change_of_format_alone_writes_the_whole_picture_again(tmp_path):
    result, plan = run(picture(tmp_path, size=(30, 20)), {"format": "webp"})
    assert result.size == (30, 20) and plan.canonical == "format=webp;q=80"
