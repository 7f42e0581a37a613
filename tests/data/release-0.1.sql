-- A database written by release 0.1 (f9138df); made by tests/data/make_release_db.py.
BEGIN TRANSACTION;
CREATE TABLE "_migrations" (
   "name" TEXT PRIMARY KEY,
   "applied_at" TEXT
);
INSERT INTO "_migrations" VALUES('001_core','2026-11-26T00:22:33+00:00');
INSERT INTO "_migrations" VALUES('002_labelstudio','2026-11-26T00:22:33+00:00');
CREATE TABLE "documents" (
   "id" TEXT PRIMARY KEY,
   "external_id" TEXT,
   "title" TEXT,
   "source" TEXT,
   "origin" TEXT,
   "text" TEXT,
   "created_at" TEXT
);
INSERT INTO "documents" VALUES('8f9f6225e5846279','sample_article.txt','Drone strike hits fuel depot near Port Selva as both sides trade blame',NULL,'/tmp/release/annotator/data/sample_article.txt','Drone strike hits fuel depot near Port Selva as both sides trade blame

PORT SELVA, Meridia (Wire) -- A drone struck a fuel depot on the northern edge of Port Selva at about 3 am (0100 GMT) on Thursday, setting off a fire that burned for six hours, the regional governor said.

Governor Ana Lucero told reporters that at least four workers were killed and 11 others were taken to the city hospital.

"This was a deliberate attack on civilian infrastructure," Lucero said, adding that emergency crews had kept the fire away from a nearby school.

The Northern Liberation Front, a rebel group that has fought government troops in the hills above the port since March, claimed responsibility in a statement posted on Thursday morning.

The group said the depot supplied fuel to army units and was a legitimate military target.

The Defence Ministry in the capital, Valdora, denied that the depot served the military and said the rebels had used a long-range drone supplied from abroad.

Army spokesman Colonel Dario Mendes said troops had shot down two more drones over the port on Thursday night.

Hundreds of residents gathered outside the governor''s office on Friday to demand better air defences, according to local media.

Police said the protest ended peacefully by noon.

The United Nations mission in Meridia called on all parties to spare civilian sites and said it would send a team to assess the damage.','2026-11-26T00:22:33+00:00');
CREATE TABLE "drafts" (
   "id" TEXT PRIMARY KEY,
   "sentence_id" TEXT REFERENCES "sentences"("id"),
   "schema_name" TEXT,
   "schema_hash" TEXT,
   "prompt_version" TEXT,
   "model" TEXT,
   "mode" TEXT,
   "status" TEXT,
   "error" TEXT,
   "data" TEXT,
   "spans" TEXT,
   "dropped_spans" TEXT,
   "n_dropped" INTEGER,
   "raw" TEXT,
   "attempts" INTEGER,
   "prompt_tokens" INTEGER,
   "completion_tokens" INTEGER,
   "latency_ms" INTEGER,
   "cached" INTEGER,
   "created_at" TEXT
);
INSERT INTO "drafts" VALUES('b6c83b4a8d9dae19','ea26c1c26475e125','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"Drone","label":"LOCATION"},{"text":"Port Selva","label":"LOCATION"}],"event_type":"none","attribution":"asserted","sources":[]}','[{"field":"entities","label":"LOCATION","text":"Drone","start":0,"end":5},{"field":"entities","label":"LOCATION","text":"Port Selva","start":34,"end":44}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "Drone", "label": "LOCATION"}, {"text": "Port Selva", "label": "LOCATION"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "asserted", "sources": []}',1,870,51,9,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('e545836640e41eb7','f4578534cb6b97eb','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"Meridia","label":"LOCATION"},{"text":"Wire","label":"LOCATION"},{"text":"Port Selva","label":"LOCATION"},{"text":"3","label":"QUANTITY"},{"text":"0100","label":"QUANTITY"},{"text":"Thursday","label":"LOCATION"}],"event_type":"none","attribution":"claimed","sources":[{"text":"Meridia","label":"SOURCE"}]}','[{"field":"entities","label":"LOCATION","text":"Meridia","start":12,"end":19},{"field":"entities","label":"LOCATION","text":"Wire","start":21,"end":25},{"field":"entities","label":"LOCATION","text":"Port Selva","start":82,"end":92},{"field":"entities","label":"QUANTITY","text":"3","start":102,"end":103},{"field":"entities","label":"QUANTITY","text":"0100","start":108,"end":112},{"field":"entities","label":"LOCATION","text":"Thursday","start":121,"end":129},{"field":"sources","label":"SOURCE","text":"Meridia","start":12,"end":19}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "Meridia", "label": "LOCATION"}, {"text": "Wire", "label": "LOCATION"}, {"text": "Port Selva", "label": "LOCATION"}, {"text": "Thursday", "label": "LOCATION"}, {"text": "3", "label": "QUANTITY"}, {"text": "0100", "label": "QUANTITY"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "claimed", "sources": [{"text": "Meridia", "label": "SOURCE"}]}',1,920,100,4,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('1d5c445262687b92','7c832717ce636562','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"Governor Ana Lucero","label":"LOCATION"},{"text":"11","label":"QUANTITY"}],"event_type":"none","attribution":"asserted","sources":[]}','[{"field":"entities","label":"LOCATION","text":"Governor Ana Lucero","start":0,"end":19},{"field":"entities","label":"QUANTITY","text":"11","start":78,"end":80}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "Governor Ana Lucero", "label": "LOCATION"}, {"text": "11", "label": "QUANTITY"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "asserted", "sources": []}',1,948,53,2,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('628eaad1c4ec588e','6c5b81620e082d29','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"This","label":"LOCATION"},{"text":"Lucero","label":"LOCATION"}],"event_type":"none","attribution":"claimed","sources":[{"text":"This","label":"SOURCE"}]}','[{"field":"entities","label":"LOCATION","text":"This","start":1,"end":5},{"field":"entities","label":"LOCATION","text":"Lucero","start":59,"end":65},{"field":"sources","label":"SOURCE","text":"This","start":1,"end":5}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "This", "label": "LOCATION"}, {"text": "Lucero", "label": "LOCATION"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "claimed", "sources": [{"text": "This", "label": "SOURCE"}]}',1,985,58,2,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('441ca67eed33ad20','17cbc807b593361d','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"The Northern Liberation Front","label":"LOCATION"},{"text":"March","label":"LOCATION"},{"text":"Thursday","label":"LOCATION"}],"event_type":"none","attribution":"asserted","sources":[]}','[{"field":"entities","label":"LOCATION","text":"The Northern Liberation Front","start":0,"end":29},{"field":"entities","label":"LOCATION","text":"March","start":113,"end":118},{"field":"entities","label":"LOCATION","text":"Thursday","start":168,"end":176}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "The Northern Liberation Front", "label": "LOCATION"}, {"text": "March", "label": "LOCATION"}, {"text": "Thursday", "label": "LOCATION"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "asserted", "sources": []}',1,1031,67,3,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('bd1dfb4e6305fd2d','5988e2b5a946a747','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"The","label":"LOCATION"}],"event_type":"none","attribution":"claimed","sources":[{"text":"The","label":"SOURCE"}]}','[{"field":"entities","label":"LOCATION","text":"The","start":0,"end":3},{"field":"sources","label":"SOURCE","text":"The","start":0,"end":3}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "The", "label": "LOCATION"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "claimed", "sources": [{"text": "The", "label": "SOURCE"}]}',1,1003,48,2,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('78e40778bc18ce8e','6dca593b625e20f5','news_events','e989e065d592','news_events.v1','stub','json_schema','ok',NULL,'{"entities":[{"text":"The Defence Ministry","label":"LOCATION"},{"text":"Valdora","label":"LOCATION"}],"event_type":"none","attribution":"claimed","sources":[{"text":"The Defence Ministry","label":"SOURCE"}]}','[{"field":"entities","label":"LOCATION","text":"The Defence Ministry","start":0,"end":20},{"field":"entities","label":"LOCATION","text":"Valdora","start":37,"end":44},{"field":"sources","label":"SOURCE","text":"The Defence Ministry","start":0,"end":20}]','[{"field":"entities","text":"Atlantis","label":"LOCATION"}]',1,'{"entities": [{"text": "The Defence Ministry", "label": "LOCATION"}, {"text": "Valdora", "label": "LOCATION"}, {"text": "Atlantis", "label": "LOCATION"}], "event_type": "none", "attribution": "claimed", "sources": [{"text": "The Defence Ministry", "label": "SOURCE"}]}',1,1012,67,2,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('72e6222a2a8be9f7','a7317291bfce4ff2','news_events','e989e065d592','news_events.v1','stub','json_schema','invalid','the JSON does not match the schema: entities: Input should be a valid list; event_type: Field required; attribution: Field required; sources: Field required',NULL,NULL,NULL,0,'{"entities": "none"}',1,1003,5,12,0,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('1a189d7968acb9a7','c96829be79178c32','news_events','e989e065d592','news_events.v1','stub','json_schema','failed','transport: HTTP 500 after 1 attempts: internal error (stub)',NULL,NULL,NULL,0,NULL,0,0,0,0,1,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('7ced2147e15be563','b617d2e147c6616f','news_events','e989e065d592','news_events.v1','stub','json_schema','failed','transport: HTTP 500 after 1 attempts: internal error (stub)',NULL,NULL,NULL,0,NULL,0,0,0,0,1,'2026-11-26T00:22:33+00:00');
INSERT INTO "drafts" VALUES('a3776d9bfd82b20b','044c6d558416b87a','news_events','e989e065d592','news_events.v1','stub','json_schema','failed','transport: HTTP 500 after 1 attempts: internal error (stub)',NULL,NULL,NULL,0,NULL,0,0,0,0,1,'2026-11-26T00:22:33+00:00');
CREATE TABLE "gold" (
   "id" TEXT PRIMARY KEY,
   "project_id" INTEGER REFERENCES "projects"("ls_id"),
   "task_id" INTEGER,
   "sentence_id" TEXT,
   "annotation_id" INTEGER,
   "annotator" TEXT,
   "completed_by" INTEGER,
   "status" TEXT,
   "schema_name" TEXT,
   "schema_hash" TEXT,
   "data" TEXT,
   "spans" TEXT,
   "errors" TEXT,
   "raw_result" TEXT,
   "lead_time" REAL,
   "ground_truth" INTEGER,
   "created_at" TEXT,
   "updated_at" TEXT,
   "parent_prediction" INTEGER,
   "pulled_at" TEXT
);
INSERT INTO "gold" VALUES('a652020048cc0d0e',7,1,'ea26c1c26475e125',1,'admin@annotator.local',1,'ok','news_events','e989e065d592','{"entities":[{"text":"Drone","label":"LOCATION"},{"text":"Port Selva","label":"LOCATION"}],"event_type":"none","attribution":"asserted","sources":[]}','[{"field":"entities","label":"LOCATION","text":"Drone","start":0,"end":5},{"field":"entities","label":"LOCATION","text":"Port Selva","start":34,"end":44}]',NULL,'[{"id":"entities-0","from_name":"entities","to_name":"text","type":"labels","value":{"start":0,"end":5,"text":"Drone","labels":["LOCATION"]}},{"id":"entities-1","from_name":"entities","to_name":"text","type":"labels","value":{"start":34,"end":44,"text":"Port Selva","labels":["LOCATION"]}},{"id":"event_type","from_name":"event_type","to_name":"text","type":"choices","value":{"choices":["none"]}},{"id":"attribution","from_name":"attribution","to_name":"text","type":"choices","value":{"choices":["asserted"]}}]',3.0,0,'2026-11-26T00:24:05.275764Z','2026-11-26T00:24:05.275834Z',1,'2026-11-26T00:24:06+00:00');
INSERT INTO "gold" VALUES('271beb9f1d95e75d',7,2,'f4578534cb6b97eb',2,'admin@annotator.local',1,'ok','news_events','e989e065d592','{"entities":[{"text":"Meridia","label":"LOCATION"},{"text":"Wire","label":"LOCATION"},{"text":"Port Selva","label":"LOCATION"},{"text":"3","label":"QUANTITY"},{"text":"0100","label":"QUANTITY"},{"text":"Thursday","label":"LOCATION"}],"event_type":"none","attribution":"claimed","sources":[{"text":"Meridia","label":"SOURCE"}]}','[{"field":"entities","label":"LOCATION","text":"Meridia","start":12,"end":19},{"field":"entities","label":"LOCATION","text":"Wire","start":21,"end":25},{"field":"entities","label":"LOCATION","text":"Port Selva","start":82,"end":92},{"field":"entities","label":"QUANTITY","text":"3","start":102,"end":103},{"field":"entities","label":"QUANTITY","text":"0100","start":108,"end":112},{"field":"entities","label":"LOCATION","text":"Thursday","start":121,"end":129},{"field":"sources","label":"SOURCE","text":"Meridia","start":12,"end":19}]',NULL,'[{"id":"entities-0","from_name":"entities","to_name":"text","type":"labels","value":{"start":12,"end":19,"text":"Meridia","labels":["LOCATION"]}},{"id":"entities-1","from_name":"entities","to_name":"text","type":"labels","value":{"start":21,"end":25,"text":"Wire","labels":["LOCATION"]}},{"id":"entities-2","from_name":"entities","to_name":"text","type":"labels","value":{"start":82,"end":92,"text":"Port Selva","labels":["LOCATION"]}},{"id":"entities-3","from_name":"entities","to_name":"text","type":"labels","value":{"start":102,"end":103,"text":"3","labels":["QUANTITY"]}},{"id":"entities-4","from_name":"entities","to_name":"text","type":"labels","value":{"start":108,"end":112,"text":"0100","labels":["QUANTITY"]}},{"id":"entities-5","from_name":"entities","to_name":"text","type":"labels","value":{"start":121,"end":129,"text":"Thursday","labels":["LOCATION"]}},{"id":"event_type","from_name":"event_type","to_name":"text","type":"choices","value":{"choices":["none"]}},{"id":"attribution","from_name":"attribution","to_name":"text","type":"choices","value":{"choices":["claimed"]}},{"id":"sources-0","from_name":"sources","to_name":"text","type":"labels","value":{"start":12,"end":19,"text":"Meridia","labels":["SOURCE"]}}]',3.0,0,'2026-11-26T00:24:05.588724Z','2026-11-26T00:24:05.588800Z',2,'2026-11-26T00:24:06+00:00');
INSERT INTO "gold" VALUES('0a37932df070fa4c',7,3,'7c832717ce636562',3,'admin@annotator.local',1,'skipped','news_events','e989e065d592',NULL,NULL,NULL,'[]',NULL,0,'2026-11-26T00:24:05.947782Z','2026-11-26T00:24:05.947870Z',NULL,'2026-11-26T00:24:06+00:00');
CREATE TABLE "llm_cache" (
   "key" TEXT PRIMARY KEY,
   "model" TEXT,
   "mode" TEXT,
   "response" TEXT,
   "created_at" TEXT
);
INSERT INTO "llm_cache" VALUES('95189ae5f2fc90d93222b92989ecad3ae100b25106c92165caa36889d6560711','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"Drone\", \"label\": \"LOCATION\"}, {\"text\": \"Port Selva\", \"label\": \"LOCATION\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"asserted\", \"sources\": []}", "prompt_tokens": 870, "completion_tokens": 51, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('6bd251a86a4cde686572fcef4705cdff14db84d910cae801d03a1d5072d67059','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"Meridia\", \"label\": \"LOCATION\"}, {\"text\": \"Wire\", \"label\": \"LOCATION\"}, {\"text\": \"Port Selva\", \"label\": \"LOCATION\"}, {\"text\": \"Thursday\", \"label\": \"LOCATION\"}, {\"text\": \"3\", \"label\": \"QUANTITY\"}, {\"text\": \"0100\", \"label\": \"QUANTITY\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"claimed\", \"sources\": [{\"text\": \"Meridia\", \"label\": \"SOURCE\"}]}", "prompt_tokens": 920, "completion_tokens": 100, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('0bad8527905777c848b5e61120968bbc8359054f4ef98b7f97c1c1a0915d571b','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"Governor Ana Lucero\", \"label\": \"LOCATION\"}, {\"text\": \"11\", \"label\": \"QUANTITY\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"asserted\", \"sources\": []}", "prompt_tokens": 948, "completion_tokens": 53, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('5dfe96f46f9e9c3e8c91d2ea1d5d0be06042cf0ca934cc44ffd5afad17dadf4e','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"This\", \"label\": \"LOCATION\"}, {\"text\": \"Lucero\", \"label\": \"LOCATION\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"claimed\", \"sources\": [{\"text\": \"This\", \"label\": \"SOURCE\"}]}", "prompt_tokens": 985, "completion_tokens": 58, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('f6da5963c92589cfe1f6038448b55726795bf6e724855a0c7f724b8619929756','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"The Northern Liberation Front\", \"label\": \"LOCATION\"}, {\"text\": \"March\", \"label\": \"LOCATION\"}, {\"text\": \"Thursday\", \"label\": \"LOCATION\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"asserted\", \"sources\": []}", "prompt_tokens": 1031, "completion_tokens": 67, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('c3eb5344c4fc4e5344a673a0c51522b40d3b16f37e8b7d0bf83b94c3f17f323a','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"The\", \"label\": \"LOCATION\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"claimed\", \"sources\": [{\"text\": \"The\", \"label\": \"SOURCE\"}]}", "prompt_tokens": 1003, "completion_tokens": 48, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('f70845c3bd545af87c0155764a118de17e96fa4f4c76012cfe15c813b31ba0d2','stub','json_schema','{"content": "{\"entities\": [{\"text\": \"The Defence Ministry\", \"label\": \"LOCATION\"}, {\"text\": \"Valdora\", \"label\": \"LOCATION\"}, {\"text\": \"Atlantis\", \"label\": \"LOCATION\"}], \"event_type\": \"none\", \"attribution\": \"claimed\", \"sources\": [{\"text\": \"The Defence Ministry\", \"label\": \"SOURCE\"}]}", "prompt_tokens": 1012, "completion_tokens": 67, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
INSERT INTO "llm_cache" VALUES('6f86ab864da3bb5c1cd803bd5f7ac1307bcd3375479868aa7999e53635735b35','stub','json_schema','{"content": "{\"entities\": \"none\"}", "prompt_tokens": 1003, "completion_tokens": 5, "finish_reason": "stop"}','2026-11-26T00:22:33+00:00');
CREATE TABLE "llm_modes" (
   "model" TEXT PRIMARY KEY,
   "mode" TEXT,
   "updated_at" TEXT
);
INSERT INTO "llm_modes" VALUES('stub','json_schema','2026-11-26T00:22:33+00:00');
CREATE TABLE "predictions" (
   "project_id" INTEGER REFERENCES "projects"("ls_id"),
   "draft_id" TEXT REFERENCES "drafts"("id"),
   "task_id" INTEGER,
   "model_version" TEXT,
   "pushed_at" TEXT,
   PRIMARY KEY ("project_id", "draft_id")
);
INSERT INTO "predictions" VALUES(7,'b6c83b4a8d9dae19',1,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
INSERT INTO "predictions" VALUES(7,'e545836640e41eb7',2,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
INSERT INTO "predictions" VALUES(7,'1d5c445262687b92',3,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
INSERT INTO "predictions" VALUES(7,'628eaad1c4ec588e',4,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
INSERT INTO "predictions" VALUES(7,'441ca67eed33ad20',5,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
INSERT INTO "predictions" VALUES(7,'bd1dfb4e6305fd2d',6,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
INSERT INTO "predictions" VALUES(7,'78e40778bc18ce8e',7,'stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00');
CREATE TABLE "projects" (
   "ls_id" INTEGER PRIMARY KEY,
   "name" TEXT,
   "url" TEXT,
   "schema_name" TEXT,
   "schema_hash" TEXT,
   "label_config" TEXT,
   "model_version" TEXT,
   "created_at" TEXT,
   "pull_watermark" TEXT,
   "pulled_at" TEXT
);
INSERT INTO "projects" VALUES(7,'Release 0.1 news','http://127.0.0.1:48165','news_events','e989e065d592','<View>
  <View style="margin-bottom: 0.5em">
    <Header value="$headline" size="5" />
    <Text name="context" value="$context" selectionEnabled="false" />
  </View>
  <View style="padding: 0.5em; border: 1px solid #ccc; border-radius: 4px">
    <Header value="entities: Every entity mentioned in the sentence, each with its exact words and kind." size="6" />
    <Labels name="entities" toName="text">
      <Label value="PERSON" background="#1f77b4" hint="A named person, or a person named by title (e.g. ''the defence minister'')." />
      <Label value="ORG" background="#d62728" hint="A civilian organization: government body, ministry, agency, company, party, news agency, NGO." />
      <Label value="ARMED_GROUP" background="#2ca02c" hint="A military force, militia, rebel or insurgent group, police unit acting as a combatant." />
      <Label value="LOCATION" background="#9467bd" hint="A country, region, city, town, village, district or geographic feature." />
      <Label value="FACILITY" background="#ff7f0e" hint="A building or structure: hospital, school, airport, bridge, base, checkpoint, market." />
      <Label value="DATETIME" background="#8c564b" hint="A date, day, time or period (''on Tuesday'', ''at about 3 am'', ''last week'')." />
      <Label value="QUANTITY" background="#e377c2" hint="A count or amount, usually of people or things (''at least 12'', ''dozens'', ''300 km'')." />
      <Label value="WEAPON" background="#17becf" hint="A weapon or munition: drone, missile, rocket, artillery shell, rifle, car bomb, IED." />
    </Labels>
    <Header value="sources: The words naming who the statement is credited to; empty when asserted." size="6" />
    <Labels name="sources" toName="text">
      <Label value="SOURCE" background="#7f7f7f" hint="The person, group or outlet the statement is credited to." />
    </Labels>
    <Text name="text" value="$text" />
  </View>
  <View style="margin-top: 0.5em">
    <Header value="event type: The kind of event the sentence reports." size="6" />
    <Choices name="event_type" toName="text" choice="single" showInline="true" required="true">
      <Choice value="battle" hint="Armed clash between organized armed groups (incl. state forces)." />
      <Choice value="explosion_remote_violence" hint="Air or drone strike, shelling, missile attack, bombing, IED, landmine." />
      <Choice value="violence_against_civilians" hint="Deliberate violence by an armed group against unarmed civilians: killings, abductions, sexual violence." />
      <Choice value="protest" hint="A public demonstration by non-violent demonstrators." />
      <Choice value="riot" hint="Violent demonstration or mob violence." />
      <Choice value="strategic_development" hint="Non-violent but significant: agreements, ceasefires, troop movements, arrests, looting, base takeovers." />
      <Choice value="none" hint="The sentence reports no event of the kinds above." />
    </Choices>
  </View>
  <View style="margin-top: 0.5em">
    <Header value="attribution: Whether the writer asserts the statement, a source claims it, or a source denies it." size="6" />
    <Choices name="attribution" toName="text" choice="single" showInline="true" required="true">
      <Choice value="asserted" hint="The writer states it as fact, with no source credited." />
      <Choice value="claimed" hint="A source is credited with the statement (''said'', ''according to'', ''claimed'')." />
      <Choice value="denied" hint="A source denies or rejects the statement." />
    </Choices>
  </View>
</View>','stub|news_events.v1|e989e065d592','2026-11-26T00:24:04+00:00','2026-11-26T00:24:04.000000Z','2026-11-26T00:24:06+00:00');
CREATE TABLE "sentences" (
   "id" TEXT PRIMARY KEY,
   "document_id" TEXT REFERENCES "documents"("id"),
   "idx" INTEGER,
   "start" INTEGER,
   "end" INTEGER,
   "text" TEXT,
   "is_headline" INTEGER
);
INSERT INTO "sentences" VALUES('ea26c1c26475e125','8f9f6225e5846279',0,0,70,'Drone strike hits fuel depot near Port Selva as both sides trade blame',1);
INSERT INTO "sentences" VALUES('f4578534cb6b97eb','8f9f6225e5846279',1,72,276,'PORT SELVA, Meridia (Wire) -- A drone struck a fuel depot on the northern edge of Port Selva at about 3 am (0100 GMT) on Thursday, setting off a fire that burned for six hours, the regional governor said.',0);
INSERT INTO "sentences" VALUES('7c832717ce636562','8f9f6225e5846279',2,278,398,'Governor Ana Lucero told reporters that at least four workers were killed and 11 others were taken to the city hospital.',0);
INSERT INTO "sentences" VALUES('6c5b81620e082d29','8f9f6225e5846279',3,400,544,'"This was a deliberate attack on civilian infrastructure," Lucero said, adding that emergency crews had kept the fire away from a nearby school.',0);
INSERT INTO "sentences" VALUES('17cbc807b593361d','8f9f6225e5846279',4,546,731,'The Northern Liberation Front, a rebel group that has fought government troops in the hills above the port since March, claimed responsibility in a statement posted on Thursday morning.',0);
INSERT INTO "sentences" VALUES('5988e2b5a946a747','8f9f6225e5846279',5,733,823,'The group said the depot supplied fuel to army units and was a legitimate military target.',0);
INSERT INTO "sentences" VALUES('6dca593b625e20f5','8f9f6225e5846279',6,825,982,'The Defence Ministry in the capital, Valdora, denied that the depot served the military and said the rebels had used a long-range drone supplied from abroad.',0);
INSERT INTO "sentences" VALUES('a7317291bfce4ff2','8f9f6225e5846279',7,984,1094,'Army spokesman Colonel Dario Mendes said troops had shot down two more drones over the port on Thursday night.',0);
INSERT INTO "sentences" VALUES('c96829be79178c32','8f9f6225e5846279',8,1096,1223,'Hundreds of residents gathered outside the governor''s office on Friday to demand better air defences, according to local media.',0);
INSERT INTO "sentences" VALUES('b617d2e147c6616f','8f9f6225e5846279',9,1225,1274,'Police said the protest ended peacefully by noon.',0);
INSERT INTO "sentences" VALUES('044c6d558416b87a','8f9f6225e5846279',10,1276,1411,'The United Nations mission in Meridia called on all parties to spare civilian sites and said it would send a team to assess the damage.',0);
CREATE TABLE "tasks" (
   "project_id" INTEGER REFERENCES "projects"("ls_id"),
   "sentence_id" TEXT REFERENCES "sentences"("id"),
   "task_id" INTEGER,
   "pushed_at" TEXT,
   PRIMARY KEY ("project_id", "sentence_id")
);
INSERT INTO "tasks" VALUES(7,'ea26c1c26475e125',1,'2026-11-26T00:24:04+00:00');
INSERT INTO "tasks" VALUES(7,'f4578534cb6b97eb',2,'2026-11-26T00:24:04+00:00');
INSERT INTO "tasks" VALUES(7,'7c832717ce636562',3,'2026-11-26T00:24:04+00:00');
INSERT INTO "tasks" VALUES(7,'6c5b81620e082d29',4,'2026-11-26T00:24:04+00:00');
INSERT INTO "tasks" VALUES(7,'17cbc807b593361d',5,'2026-11-26T00:24:04+00:00');
INSERT INTO "tasks" VALUES(7,'5988e2b5a946a747',6,'2026-11-26T00:24:04+00:00');
INSERT INTO "tasks" VALUES(7,'6dca593b625e20f5',7,'2026-11-26T00:24:04+00:00');
CREATE UNIQUE INDEX "idx_sentences_document_id_idx"
    ON "sentences" ("document_id", "idx");
CREATE UNIQUE INDEX "idx_drafts_sentence_id_schema_hash_prompt_version_model"
    ON "drafts" ("sentence_id", "schema_hash", "prompt_version", "model");
CREATE INDEX "idx_drafts_status"
    ON "drafts" ("status");
CREATE UNIQUE INDEX "idx_projects_url_name"
    ON "projects" ("url", "name");
CREATE UNIQUE INDEX "idx_tasks_project_id_task_id"
    ON "tasks" ("project_id", "task_id");
CREATE UNIQUE INDEX "idx_gold_project_id_annotation_id"
    ON "gold" ("project_id", "annotation_id");
CREATE INDEX "idx_gold_project_id_task_id"
    ON "gold" ("project_id", "task_id");
CREATE INDEX "idx_gold_sentence_id"
    ON "gold" ("sentence_id");
CREATE INDEX "idx_gold_status"
    ON "gold" ("status");
COMMIT;
