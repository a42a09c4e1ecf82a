// Placeholder while the page is built (issue 7).
import { page } from "./ui.js";
export function messagesPage() { return page("messages"); }
export function messagePage() { return page("messages"); }
