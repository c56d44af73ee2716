// What every chart of the dashboard does the same way: drawn with ECharts, a "no data" title when
// empty, a click on a bar or slice opens its drill-down link, and every chart follows the window's size.
(function () {
  "use strict";
  var charts = [];

  // option: ECharts' option, or null when there is nothing to draw (emptyText is shown instead).
  function mount(element, option, urls, emptyText) {
    var chart = echarts.init(element, null, { renderer: "canvas" });
    if (option === null) {
      chart.setOption({ title: { text: emptyText, left: "center", top: "middle", textStyle: { fontSize: 14, color: "#888" } } });
    } else {
      chart.setOption(option);
    }
    chart.on("click", function (params) {
      var url = (urls || [])[params.dataIndex];
      if (url) {
        window.location.assign(url);
      }
    });
    element.dataset.rendered = "true";
    if (charts.length === 0) {
      window.addEventListener("resize", function () {
        charts.forEach(function (each) { each.resize(); });
      });
    }
    charts.push(chart);
  }

  window.dashboardCharts = { mount: mount };
})();
