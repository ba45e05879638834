/* "You": fragments pushed to every agent are rendered once, without a viewer, so the page puts
 * "You" where an assignee name (.assignee-name[data-agent]) is the signed-in agent's.
 */
import { each, me } from "./page.js";

htmx.onLoad(function (elt) {
  each(elt, ".assignee-name[data-agent]", function (el) {
    el.textContent = el.dataset.agent === me() ? "You" : el.dataset.name;
  });
});
