"""The draw-a-digit page in a real browser: Debian's headless Chromium driven by Playwright.

Chromium is the system one (``apt-get install -y chromium``), launched through
``executable_path``; Playwright never downloads a browser here. The tests use the page
as a person does (mouse strokes on the canvas, clicks, a file chooser) and check what
it shows against ``mnist-mlp predict``'s own functions run outside the server.
Screenshots go to ``$MNIST_MLP_SCREENSHOTS`` when set (the README's picture), else to
the test's temporary directory.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from serve_support import (
    as_drawing,
    direct_probabilities,
    mnist_test_split,
    running,
    trained_model,
)

from mnist_mlp.data.imageprep import load_digit_image
from mnist_mlp.serve import ServedModel, TestDigits, make_server

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
WAIT_MS = 15_000  # the longest any page condition is awaited
DESKTOP = {"width": 1180, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("no chromium on PATH: install Debian's browser with `apt-get install -y chromium`")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                          timeout=60_000)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def model_path(mnist_dir):
    return trained_model(mnist_dir)


@pytest.fixture(scope="module")
def site(model_path, mnist_dir):
    images, labels = mnist_test_split(mnist_dir)
    digits = TestDigits(images=images, labels=labels, seed=0)
    with running(make_server(ServedModel.load(model_path), port=0, samples=digits)) as live:
        yield live.url


@pytest.fixture()
def open_page(browser, site):
    """``open_page(viewport)`` -> a loaded page; checks no request left this server."""
    contexts, foreign, problems = [], [], []

    def opener(viewport=DESKTOP, **options):
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("request", lambda r: None if r.url.startswith(site) else foreign.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(site)
        page.wait_for_function("() => document.querySelectorAll('#bars li').length === 10")
        return page

    opener.expected_errors = []  # console messages a test provokes on purpose
    yield opener
    for context in contexts:
        context.close()
    assert foreign == [], "the page loaded something from elsewhere"
    unexpected = [p for p in problems if not any(e in p for e in opener.expected_errors)]
    assert unexpected == [], unexpected


def screenshot(page, name, tmp_path):
    folder = Path(os.environ.get("MNIST_MLP_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    return path


SEVEN = (((0.22, 0.2), (0.78, 0.2)), ((0.78, 0.2), (0.58, 0.5), (0.45, 0.84)))  # bar, then stem
STEPS = 12  # moves per segment, as a hand sends many


def _points(page, stroke):
    box = page.locator("#pad").bounding_box()
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(stroke):
        points += [(x0 + (x1 - x0) * t / STEPS, y0 + (y1 - y0) * t / STEPS) for t in range(1, STEPS + 1)]
    return [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]


def draw_seven(page):
    """Two mouse strokes: the bar of a 7, then its stem, as a person draws one."""
    for stroke in SEVEN:
        first, *rest = _points(page, stroke)
        page.mouse.move(*first)
        page.mouse.down()
        for point in rest:
            page.mouse.move(*point)
        page.mouse.up()


def draw_seven_by_touch(page):
    """The same 7 with a finger: touch events through the DevTools protocol (as a phone sends)."""
    session = page.context.new_cdp_session(page)
    for stroke in SEVEN:
        first, *rest = _points(page, stroke)
        session.send("Input.dispatchTouchEvent",
                     {"type": "touchStart", "touchPoints": [{"x": first[0], "y": first[1]}]})
        for x, y in rest:
            session.send("Input.dispatchTouchEvent",
                         {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    session.detach()


def wait_for_answer(page, before):
    """Until the answer to the latest request is on the page (no sleeps: a page condition)."""
    page.wait_for_function(
        "(before) => !document.body.dataset.busy && Number(document.body.dataset.predictions) > before",
        arg=before)


def predictions_done(page):
    return int(page.evaluate("document.body.dataset.predictions"))


def shown(page):
    """What the page shows: predicted label, the ten percentages, the 28x28 input."""
    percentages = [float(t.rstrip("%")) for t in page.locator("#bars .pct").all_inner_texts()]
    seen = page.evaluate("""Array.from(document.getElementById('seen').getContext('2d')
                            .getImageData(0, 0, 28, 28).data.filter((_, i) => i % 4 === 0))""")
    return page.inner_text("#predicted"), np.array(percentages), np.array(seen)


def pad_picture(page, tmp_path):
    """The canvas as the PNG the page sent, saved to a file."""
    url = page.evaluate("document.getElementById('pad').toDataURL('image/png')")
    path = tmp_path / "pad.png"
    path.write_bytes(base64.b64decode(url.split(",", 1)[1]))
    return path


def check_against_predict(page, tmp_path, model_path):
    """The page's answer equals predict's preprocessing and probabilities on the same PNG."""
    label, percentages, seen = shown(page)
    digit = load_digit_image(pad_picture(page, tmp_path))
    probabilities = direct_probabilities(model_path, [digit])[0]
    np.testing.assert_array_equal(seen, digit)
    np.testing.assert_allclose(percentages, 100 * probabilities, atol=0.051)  # shown to 0.1%
    assert label == str(int(np.argmax(probabilities)))
    return label


def test_drawn_seven_is_read_as_seven(open_page, tmp_path, model_path):
    page = open_page(DESKTOP)
    assert "784-128-10 relu" in page.inner_text("#model-line")
    before = predictions_done(page)
    draw_seven(page)
    wait_for_answer(page, before)
    assert check_against_predict(page, tmp_path, model_path) == "7"
    assert page.locator("#bars li.best").get_attribute("data-index") == "7"
    assert page.locator("#units img").count() == 8
    page.wait_for_function("() => Array.from(document.querySelectorAll('#units img'))"
                           ".every(img => img.complete && img.naturalWidth === 28)")
    assert screenshot(page, "serve-desktop.png", tmp_path).stat().st_size > 0
    # Not a page that always says 7: clear, draw a 1, read a 1.
    page.click("#clear")
    before = predictions_done(page)
    first, *rest = _points(page, ((0.52, 0.15), (0.48, 0.85)))
    page.mouse.move(*first)
    page.mouse.down()
    for point in rest:
        page.mouse.move(*point)
    page.mouse.up()
    wait_for_answer(page, before)
    assert check_against_predict(page, tmp_path, model_path) == "1"


def test_phone_width_fits_and_reads_a_seven_drawn_by_touch(open_page, tmp_path, model_path):
    page = open_page(PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    for panel in page.locator(".panel").all():
        box = panel.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5
    pad = page.locator("#pad").bounding_box()
    assert pad["width"] >= 0.8 * width    # the drawing area uses the screen's width
    before = predictions_done(page)
    draw_seven_by_touch(page)
    wait_for_answer(page, before)
    assert check_against_predict(page, tmp_path, model_path) == "7"
    screenshot(page, "serve-phone.png", tmp_path)


def test_clear_then_sample_shows_a_test_digit_and_its_true_label(open_page, model_path, mnist_dir):
    images, labels = mnist_test_split(mnist_dir)
    page = open_page(DESKTOP)
    before = predictions_done(page)
    page.click("#sample")
    wait_for_answer(page, before)
    truth = page.inner_text("#truth")
    index, label = map(int, re.fullmatch(r"Test digit #(\d+): true label (\d)", truth).groups())
    assert label == labels[index]
    shown_label, percentages, seen = shown(page)
    probabilities = direct_probabilities(model_path, images[index:index + 1])[0]
    np.testing.assert_array_equal(seen, images[index])          # sent as it is, not re-processed
    np.testing.assert_allclose(percentages, 100 * probabilities, atol=0.051)
    assert shown_label == str(int(np.argmax(probabilities)))
    page.click("#clear")
    assert page.evaluate("""(() => { const d = document.getElementById('pad').getContext('2d')
                           .getImageData(0, 0, 280, 280).data; return d.every(v => v === 255); })()""")
    assert page.locator("#truth").is_hidden()


def test_upload_reads_the_image_like_predict(open_page, tmp_path, model_path, mnist_dir):
    images, labels = mnist_test_split(mnist_dir)
    path = tmp_path / "upload.png"
    as_drawing(images[7], scale=5).save(path)
    page = open_page(DESKTOP)
    before = predictions_done(page)
    page.set_input_files("#upload", str(path))
    wait_for_answer(page, before)
    label, percentages, seen = shown(page)
    digit = load_digit_image(path)
    probabilities = direct_probabilities(model_path, [digit])[0]
    np.testing.assert_array_equal(seen, digit)
    np.testing.assert_allclose(percentages, 100 * probabilities, atol=0.051)
    assert label == str(labels[7])


def test_non_image_upload_shows_the_servers_message(open_page, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a digit")
    page = open_page(DESKTOP)
    open_page.expected_errors.append("status of 415")  # the browser logs the refused upload
    before = predictions_done(page)
    page.set_input_files("#upload", str(path))
    wait_for_answer(page, before)
    status = page.locator("#status")
    assert "not an image" in status.inner_text() and "error" in status.get_attribute("class")
    assert page.inner_text("#predicted") == "–"  # nothing predicted
