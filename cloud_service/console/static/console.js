// LatentLink console: small enhancements over pages that work without script.
"use strict";

// The mask over the picture: shown or hidden, and how opaque, on every image of the page.
function wireOverlay(controls) {
  const toggle = controls.querySelector('input[name="overlay"]');
  const opacity = controls.querySelector('input[name="opacity"]');
  const saved = JSON.parse(localStorage.getItem("latentlink.overlay") || "{}");
  if (typeof saved.shown === "boolean") toggle.checked = saved.shown;
  if (typeof saved.opacity === "number") opacity.value = saved.opacity;
  const apply = () => {
    for (const mask of document.querySelectorAll(".overlay .mask-layer")) {
      mask.hidden = !toggle.checked;
      mask.style.opacity = String(opacity.value / 100);
    }
    localStorage.setItem("latentlink.overlay",
      JSON.stringify({ shown: toggle.checked, opacity: Number(opacity.value) }));
  };
  toggle.addEventListener("change", apply);
  opacity.addEventListener("input", apply);
  controls.hidden = false;
  apply();
}

// Jobs still queued or running: follow their progress; reload once one settles, so the page
// shows its result and the registry's new version.
const FINAL = new Set(["succeeded", "failed", "cancelled"]);

function followJob(row) {
  const id = row.dataset.job;
  const poll = async () => {
    let job;
    try {
      const answer = await fetch(`/ui/jobs/${id}`, { headers: { accept: "application/json" } });
      if (!answer.ok) return;
      job = await answer.json();
    } catch (error) {
      setTimeout(poll, 3000);
      return;
    }
    row.querySelector("[data-job-progress]").value = job.progress;
    const badge = row.querySelector("[data-job-state] .badge");
    badge.textContent = job.state;
    badge.className = `badge status-${job.state}`;
    row.dataset.state = job.state;
    if (FINAL.has(job.state)) {
      location.reload();
    } else {
      setTimeout(poll, 1000);
    }
  };
  setTimeout(poll, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const controls of document.querySelectorAll("[data-overlay-controls]")) wireOverlay(controls);
  for (const row of document.querySelectorAll('tr[data-job][data-state="queued"], tr[data-job][data-state="running"]')) {
    followJob(row);
  }
});
