-- An air-gap bundle counts as a pull of each tag it carries (client kind `export`); it is no
-- token's pull, so those events name the nil token.
alter table pull_events drop constraint pull_events_client_kind_check;
alter table pull_events add constraint pull_events_client_kind_check
    check (client_kind in ('docker', 'containerd', 'podman', 'helm', 'oras', 'other', 'export'));
