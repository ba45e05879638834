/* Label colours (chips and swatches with data-color) without inline styles, which the CSP
 * forbids: the colour becomes the --label-color custom property, if it is a hex colour.
 */
import { each } from "./page.js";

htmx.onLoad(function (elt) {
  each(elt, "[data-color]", function (el) {
    if (/^#[0-9a-fA-F]{3,8}$/.test(el.dataset.color)) el.style.setProperty("--label-color", el.dataset.color);
  });
});
