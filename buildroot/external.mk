include $(sort $(wildcard $(BR2_EXTERNAL_CARDSTOP_PATH)/package/*/*.mk))
