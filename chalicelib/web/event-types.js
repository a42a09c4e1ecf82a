// Placeholder while the page is built (issue 7).
import { page } from "./ui.js";
export function eventTypesPage() { return page("event-types"); }
export function eventTypePage() { return page("event-types"); }
