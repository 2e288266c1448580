# The paho-mqtt sample from the IoT Hub MQTT document
# (shared/seeds/000_6359fcaaf51ca7ac.txt, section "TLS/SSL-Konfiguration"),
# run against ferrohub by tests/sdk/run.sh.
#
# Runs on paho-mqtt 1.6.1 (pinned in ../python/requirements.txt, because
# azure-iot-device 2.14.0 requires paho-mqtt<2), so the paho 1.x API calls of
# the document are kept verbatim, including mqtt.Client(client_id=...,
# protocol=mqtt.MQTTv311).
#
# Adapted, and nothing else:
#   1. CA path: path_to_root_cert comes from env FERROHUB_CA (ferrohub's CA)
#      instead of the DigiCert Baltimore root.
#   2. Device id and SAS token come from env FERROHUB_DEVICE_ID and
#      FERROHUB_SAS_TOKEN (run.sh: `ferrohub device create` +
#      `ferrohub sas-token --device ID`) instead of placeholders.
#   3. Host: "localhost" instead of iot_hub_name + ".azure-devices.net", in
#      both the MQTT username and the connect() call.
#   4. TLS version: ssl.PROTOCOL_TLSv1_2 instead of ssl.PROTOCOL_TLSv1
#      (TLS 1.0 is refused by modern OpenSSL and by the server).
#   5. Exit after the first publish is acknowledged: on_publish disconnects,
#      so loop_forever() returns; the exit status is 0 only if the PUBACK
#      arrived. For the same reason a refused CONNACK (rc != 0) disconnects
#      too (instead of paho reconnecting forever) and exits 1.
# The publish is still issued right after connect(), before the CONNACK, as in
# the document: the server must accept a PUBLISH pipelined behind CONNECT.

from paho.mqtt import client as mqtt
import os
import ssl
import sys

path_to_root_cert = os.environ["FERROHUB_CA"]  # adapted (1)
device_id = os.environ["FERROHUB_DEVICE_ID"]  # adapted (2)
sas_token = os.environ["FERROHUB_SAS_TOKEN"]  # adapted (2)
hub_hostname = "localhost"  # adapted (3)

published = False  # adapted (5)


def on_connect(client, userdata, flags, rc):
  print ("Device connected with result code: " + str(rc))
  if rc != 0:  # adapted (5)
    client.disconnect()
def on_disconnect(client, userdata, rc):
  print ("Device disconnected with result code: " + str(rc))
def on_publish(client, userdata, mid):
  global published  # adapted (5)
  print ("Device sent message")
  published = True  # adapted (5)
  client.disconnect()  # adapted (5)

client = mqtt.Client(client_id=device_id, protocol=mqtt.MQTTv311)

client.on_connect = on_connect
client.on_disconnect = on_disconnect
client.on_publish = on_publish

client.username_pw_set(username=hub_hostname + "/" + device_id + "/?api-version=2018-06-30", password=sas_token)  # adapted (3)

client.tls_set(ca_certs=path_to_root_cert, certfile=None, keyfile=None, cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLSv1_2, ciphers=None)  # adapted (4)
client.tls_insecure_set(False)

client.connect(hub_hostname, port=8883)  # adapted (3)

client.publish("devices/" + device_id + "/messages/events/", "{id=123}", qos=1)
client.loop_forever()

sys.exit(0 if published else 1)  # adapted (5)
