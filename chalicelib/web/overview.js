// Placeholder while the page is built (issue 7).
import { page } from "./ui.js";
export function overviewPage() { return page("overview"); }
