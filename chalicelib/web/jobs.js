// Background jobs (an application's deletion, a recovery): the page that starts one follows it here, with
// a progress bar, until it succeeds or fails. Everything shown is text (textContent), never markup.
import * as api from "./api.js";
import { h, replace } from "./dom.js";
import { pollUntil } from "./attempts.js";

/** What a job's state says, for people: `what` names its items, one and many
 * (["delivery queued again", "deliveries queued again"]). */
export function jobText(job, [one, many]) {
  const of = job.total === null || job.total === undefined ? "" : ` of ${job.total}`;
  if (job.state === "queued") return "Queued: it starts in a moment.";
  if (job.state === "running") return `Running: ${job.done}${of} ${job.done === 1 && !of ? one : many} so far.`;
  if (job.state === "succeeded") return `Done: ${job.done} ${job.done === 1 ? one : many}.`;
  const reason = job.error && job.error.message ? job.error.message : "it stopped";
  return `Failed after ${job.done} ${job.done === 1 ? one : many}: ${reason}.`;
}

/** Show `job` in `holder` and poll it until it ends; resolves to the job as it ended (null if the page was
 * left or the wait ran out). The bar is indeterminate while the job does not know its total yet. */
export async function followJob(job, holder, { what = ["item", "items"], timeout = 600000, interval = 1000 } = {}) {
  const bar = h("progress", { class: "progress", "aria-label": "Job progress", "data-testid": "job-bar" });
  const text = h("p", { "data-testid": "job-state" });
  replace(holder, text, bar);
  const show = (current) => {
    if (current.total !== null && current.total !== undefined) {
      bar.max = Math.max(current.total, 1);
      bar.value = current.total ? current.done : 1;
    } else {
      bar.removeAttribute("value");
    }
    text.textContent = jobText(current, what);
  };
  show(job);
  const ended = await pollUntil(async () => {
    const current = await api.get(`jobs/${encodeURIComponent(job.id)}`);
    show(current);
    return current.state === "succeeded" || current.state === "failed" ? current : null;
  }, { holder, timeout, interval });
  if (!ended && holder.isConnected) {
    holder.append(h("p", { class: "muted" }, `Still going: job ${job.id} goes on in the background.`));
  }
  return ended;
}
