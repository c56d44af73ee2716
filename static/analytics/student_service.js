/* The student-service section of the analytics dashboard (templates/admin/analytics/dashboard_service.html):
   the last eight weeks' rates as lines (Apache ECharts, static/vendor/echarts/) from the page's
   json_script (#student-service-data), already translated. A week without anything to count has
   no point (null), not a zero. Tooltips are drawn on the canvas (renderMode richText): ECharts'
   HTML tooltips carry inline styles, which the Content-Security-Policy refuses. */
(function () {
  "use strict";

  function trend(data) {
    var t = data.trend;
    return {
      animation: false,
      tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: function (v) { return v === null || v === undefined ? "—" : v + "%"; } },
      legend: { type: "scroll", top: 0 },
      grid: { left: 48, right: 24, top: 48, bottom: 32 },
      xAxis: { type: "category", data: t.labels },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: t.series.map(function (s) {
        return { name: s.name, type: "line", data: s.data, symbolSize: 7, connectNulls: false };
      }),
    };
  }

  function hasData(t) {
    return t.series.some(function (s) { return s.data.some(function (v) { return v !== null; }); });
  }

  function draw() {
    var source = document.getElementById("student-service-data");
    if (!source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    document.querySelectorAll("[data-service-chart]").forEach(function (element) {
      if (element.dataset.serviceChart !== "trend" || !data.trend) {
        return;
      }
      window.dashboardCharts.mount(element, hasData(data.trend) ? trend(data) : null, data.trend.urls, data.labels.empty);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
