// xmppd web client set-up: Converse.js for this server, WebSocket at /xmpp-websocket on the
// page's own origin, BOSH at /http-bind as the fallback (Converse switches on a failed connect);
// ?transport=bosh forces BOSH.
/* Converse.js 12+ ships only ES modules: the bundle's default export is the converse API */
import converse from '/dist/converse.min.js';
(function () {
  var wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var params = new URLSearchParams(location.search);
  var bosh = location.origin + '/http-bind';
  var settings = {
    assets_path: '/dist/',
    view_mode: 'fullscreen',
    authentication: 'login',
    auto_login: false,
    allow_registration: false,
    discover_connection_methods: false,
    default_domain: location.hostname,
    bosh_service_url: bosh,
    websocket_url: wsScheme + '//' + location.host + '/xmpp-websocket',
    i18n: 'en',
    loglevel: 'info'
  };
  if (params.get('transport') === 'bosh')
    delete settings.websocket_url;	/* BOSH only */
  window.converse = converse;
  converse.initialize(settings);
})();
