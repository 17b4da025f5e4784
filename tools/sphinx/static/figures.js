// Draws the notebooks' plotly figures. They are saved without plotly.js (3.5 MB each); the page loads the site's
// one local plotly.min.js and each figure sits in a <div class="plotly-figure"> as a JSON island (data, layout, frames).
document.addEventListener('DOMContentLoaded', () => {
  for (const el of document.querySelectorAll('.plotly-figure')) {
    const fig = JSON.parse(el.querySelector('script[type="application/json"]').textContent);
    const plot = el.appendChild(document.createElement('div'));
    Plotly.newPlot(plot, {...fig, config: {displaylogo: false, responsive: true}});
  }
});
