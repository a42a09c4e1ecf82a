// Placeholder while the page is built (issue 7).
import { page } from "./ui.js";
export function applicationsPage() { return page("applications"); }
export function applicationPage() { return page("applications"); }
