// mnist-mlp serve: the draw-a-digit page. Plain JavaScript, no build step, no CDN.
// Every stroke end sends the canvas as a PNG to POST /api/predict; the server does all
// the preprocessing (the same code as `mnist-mlp predict`) and answers the probabilities,
// the 28x28 image the network received and the most active first-layer units.
"use strict";

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const statusLine = document.getElementById("status");
const truthLine = document.getElementById("truth");
const STROKE = pad.width / 11;   // about MNIST's stroke width once scaled to 20x20
let classes = [];
let drawing = null;              // pointer id of the stroke in progress
let latest = 0;                  // number of the newest request: older answers are dropped

function clearPad() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
}

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

function startStroke(event) {
  if (drawing !== null || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  drawing = event.pointerId;
  pad.setPointerCapture(event.pointerId);
  truthLine.hidden = true;
  const [x, y] = point(event);
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = STROKE;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.arc(x, y, STROKE / 2, 0, 2 * Math.PI);   // a tap leaves a dot
  ctx.fill();
  ctx.beginPath();
  ctx.moveTo(x, y);
}

function continueStroke(event) {
  if (event.pointerId !== drawing) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) {
    const [x, y] = point(e);
    ctx.lineTo(x, y);
  }
  ctx.stroke();
}

function endStroke(event) {
  if (event.pointerId !== drawing) return;
  drawing = null;
  predict({ image: pad.toDataURL("image/png") });
}

async function api(path, options) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function predict(request) {
  const number = ++latest;
  document.body.dataset.busy = "1";
  setStatus("Reading…");
  try {
    const answer = await api("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    if (number !== latest) return;
    showAnswer(answer);
    setStatus(answer.preprocessed ? "Preprocessed as MNIST digits were, then classified."
                                  : "A test digit, sent to the network as it is.");
  } catch (error) {
    if (number === latest) setStatus(error.message, true);
  } finally {
    if (number === latest) {
      delete document.body.dataset.busy;
      document.body.dataset.predictions = String(Number(document.body.dataset.predictions) + 1);
    }
  }
}

function buildBars() {
  const list = document.getElementById("bars");
  list.replaceChildren(...classes.map((name, index) => {
    const item = document.createElement("li");
    item.dataset.index = index;
    item.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span>' +
                     '</span><span class="pct">–</span>';
    item.querySelector(".name").textContent = name === String(index) ? name : `${index} ${name}`;
    return item;
  }));
}

function showAnswer(answer) {
  document.getElementById("predicted").textContent = answer.label;
  document.getElementById("confidence").textContent =
    `${(100 * answer.probabilities[answer.predicted]).toFixed(1)}% sure`;
  document.querySelectorAll("#bars li").forEach((item, index) => {
    const p = answer.probabilities[index];
    item.classList.toggle("best", index === answer.predicted);
    item.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    item.querySelector(".pct").textContent = `${(100 * p).toFixed(1)}%`;
  });
  showSeen(answer.image);
  showUnits(answer.units);
}

function showSeen(pixels) {
  const seen = document.getElementById("seen");
  const image = seen.getContext("2d").createImageData(28, 28);
  pixels.forEach((v, i) => {
    image.data.set([v, v, v, 255], 4 * i);
  });
  seen.getContext("2d").putImageData(image, 0, 0);
}

function showUnits(units) {
  const box = document.getElementById("units");
  if (!units.length) {
    box.innerHTML = '<p class="empty">This network has no hidden layer.</p>';
    return;
  }
  const peak = Math.max(...units.map((u) => u.activation), 1e-9);
  box.replaceChildren(...units.map((u) => {
    const tile = document.createElement("figure");
    tile.className = "unit";
    tile.style.margin = "0";
    const img = document.createElement("img");
    img.src = `/api/unit/${u.unit}.png`;
    img.alt = `Input weights of unit ${u.unit}`;
    const bar = document.createElement("div");
    bar.className = "act";
    bar.innerHTML = "<span></span>";
    bar.firstChild.style.width = `${Math.max(0, 100 * u.activation / peak).toFixed(0)}%`;
    const caption = document.createElement("figcaption");
    caption.textContent = `#${u.unit}: ${u.activation.toFixed(2)}`;
    tile.append(img, bar, caption);
    return tile;
  }));
}

async function loadSample() {
  try {
    const sample = await api("/api/sample");
    // Shown on the pad as dark ink on white, like a drawing, 10 canvas pixels per pixel.
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    const image = small.getContext("2d").createImageData(28, 28);
    sample.pixels.forEach((v, i) => image.data.set([255 - v, 255 - v, 255 - v, 255], 4 * i));
    small.getContext("2d").putImageData(image, 0, 0);
    clearPad();
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(small, 0, 0, pad.width, pad.height);
      truthLine.textContent = `Test digit #${sample.index}: true label ${sample.class}`;
    truthLine.hidden = false;
    predict({ pixels: sample.pixels, preprocess: false });
  } catch (error) {
    setStatus(error.message, true);
  }
}

function uploadFile(file) {
  const reader = new FileReader();
  reader.onload = () => {
    truthLine.hidden = true;
    const picture = new Image();
    picture.onload = () => {   // show it on the pad, fitted, if the browser can decode it
      clearPad();
      const scale = Math.min(pad.width / picture.width, pad.height / picture.height);
      const w = picture.width * scale, h = picture.height * scale;
      ctx.drawImage(picture, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
        };
    picture.src = reader.result;
    // The file itself goes to the server (not the fitted copy): the same input `predict` reads.
    predict({ image: reader.result });
  };
  reader.onerror = () => setStatus("The file could not be read.", true);
  reader.readAsDataURL(file);
}

async function loadModel() {
  try {
    const model = await api("/api/model");
    classes = model.classes;
    buildBars();
    const dataset = { "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST" }[model.dataset] || model.dataset;
    const parts = [model.summary, dataset];
    if (model.test_accuracy != null) parts.push(`test accuracy ${(100 * model.test_accuracy).toFixed(2)}%`);
    parts.push(`${model.parameters.toLocaleString("en")} weights`);
    document.getElementById("model-line").textContent = `Model: ${parts.join(" · ")}`;
    document.getElementById("model-line").title = model.source;
    document.getElementById("sample").disabled = !model.samples;
    if (!model.hidden_units) showUnits([]);
  } catch (error) {
    setStatus(`Cannot reach the model: ${error.message}`, true);
  }
}

pad.addEventListener("pointerdown", startStroke);
pad.addEventListener("pointermove", continueStroke);
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
document.getElementById("clear").addEventListener("click", () => {
  clearPad();
  truthLine.hidden = true;
  setStatus("Cleared. Draw a digit.");
});
document.getElementById("sample").addEventListener("click", loadSample);
document.getElementById("upload").addEventListener("change", (event) => {
  if (event.target.files.length) uploadFile(event.target.files[0]);
  event.target.value = "";
});

clearPad();
loadModel();
