// Placeholder while the page is built (issue 7).
import { page } from "./ui.js";
export function sourcesPage() { return page("sources"); }
export function sourcePage() { return page("sources"); }
export function newSourcePage() { return page("sources"); }
