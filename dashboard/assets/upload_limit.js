/* Size limit of the dashboard's uploads (settings.UPLOAD_MAX_BYTES).
 *
 * A dcc.Upload with max_size drops a bigger file without a word. Wrap it in an element with
 * data-max-bytes (the limit), data-too-big (the message: {name}, {size} and {max} in MB) and
 * data-error-class, holding an element of class "wg-upload-limit-msg": a file over the limit
 * (picked or dropped) shows the message there; a file within the limit clears it.
 */
(function () {
    'use strict';
    const MB = 1024 * 1024;

    function report(box, files) {
        const out = box.querySelector('.wg-upload-limit-msg');
        const max = Number(box.dataset.maxBytes);
        if (!out || !(max > 0)) { return; }
        const big = Array.from(files || []).filter((f) => f.size > max);
        if (!big.length) {
            out.textContent = '';
            out.className = 'wg-upload-limit-msg';
            return;
        }
        out.textContent = (box.dataset.tooBig || '{name}: {size} MB > {max} MB')
            .replace('{name}', big[0].name)
            .replace('{size}', (big[0].size / MB).toFixed(1))
            .replace('{max}', String(Math.round(max / MB)));
        out.className = 'wg-upload-limit-msg ' + (box.dataset.errorClass || 'is-error');
        out.setAttribute('role', 'alert');
    }

    function boxOf(target) {
        return target && target.closest ? target.closest('[data-max-bytes]') : null;
    }

    document.addEventListener('change', (e) => {
        const box = boxOf(e.target);
        if (box && e.target.files) { report(box, e.target.files); }
    }, true);
    document.addEventListener('drop', (e) => {
        const box = boxOf(e.target);
        if (box && e.dataTransfer) { report(box, e.dataTransfer.files); }
    }, true);
}());
