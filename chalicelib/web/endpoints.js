// Placeholder while the page is built (issue 7).
import { page } from "./ui.js";
export function endpointsPage() { return page("endpoints"); }
export function endpointPage() { return page("endpoints"); }
export function newEndpointPage() { return page("endpoints"); }
