"""The back office's two languages: English (the keys themselves) and Chinese. An
operator picks one (a cookie-free choice kept in the session). A refusal or bad input
(problems.Problem: a code and its parameters) is said by `say`: PROBLEMS_ZH holds each
code's Chinese text, problems.MESSAGES the English."""

from ..problems import Note, Problem

LANGS = ("en", "zh")
ZH = dict({
    "Back office": "后台管理", "Forecourt": "油站前庭", "Sales": "销售", "Prices": "油价",
    "Terminals": "终端", "Commands": "命令", "Audit trail": "审计日志",
    "Operators": "操作员", "Log in": "登录", "Log out": "退出", "Name": "用户名",
    "Password": "密码", "Pump": "油机", "State": "状态", "Grade": "油品",
    "Litres": "升数", "Amount": "金额", "Online": "在线", "Offline": "离线",
    "Alarm": "报警", "Link": "链路", "Kind": "类型", "Card": "卡号", "Journal": "日志标识",
    "Firmware": "固件", "Software id": "软件标识", "Last seen": "最后通信",
    "Price": "价格", "Set price": "设置价格",
    "From (empty: the next sale)": "生效时间（留空：下一笔交易）",
    "Scheduled": "待生效", "no price change waits for its time": "没有待生效的价格变更",
    "Version": "版本", "Effective": "生效", "Set at": "设置时间", "History": "历史",
    "Current": "当前", "Send": "发送", "Command": "命令", "Result": "结果",
    "When": "时间", "Who": "操作人", "Role": "角色", "Action": "操作", "Target": "对象",
    "Old": "原值", "New": "新值", "Filter": "筛选", "Export CSV": "导出 CSV",
    "From date": "开始日期", "To date": "结束日期", "Add operator": "添加操作员",
    "Disabled": "已停用", "Created": "创建时间", "Saved": "已保存", "Language": "语言",
    "pending": "等待中", "Sale": "交易号", "Received": "接收时间", "any": "全部",
    "Signed in as": "当前用户", "Nozzle": "油枪", "Litres per day": "每日升数",
    "Set password": "设置密码", "Download a backup": "下载备份",
    "Cards": "卡管理", "Look up": "查询", "Balance": "余额", "The card's own": "卡内余额",
    "Waiting": "待圈存", "Cash taken": "收取现金", "Online top-up": "网上充值",
    "Report lost": "挂失", "Unblock": "解挂", "ID last 4": "证件号后四位",
    # the fleet desk (fleet.py)
    "Fleet": "车队管理", "Company": "单位", "Contact": "联系人", "Account": "账户类型",
    "Credit limit": "信用额度", "Paid in": "单位充值", "Add company": "添加单位",
    "Plate": "车牌号", "Allowed grades": "限用油品", "Time window": "加油时段",
    "Left this month": "本月剩余", "no limit": "不限", "Paid by": "付款方式",
    "Allocate": "分配", "Take back": "回收", "Set limits": "设置限额",
    "Statement": "对账单", "Month": "月份", "Odometer": "里程表", "l/100 km": "百公里油耗",
    "prepaid": "预付", "credit": "记账（信用）", "cash": "现金", "transfer": "转账",
    "active": "正常", "lost": "已挂失", "closed": "已注销",
    "sale_amount": "单笔限额（金额）", "sale_ml": "单笔限量（毫升）",
    "day_amount": "每日限额（金额）", "day_ml": "每日限量（毫升）",
    "month_amount": "每月限额（金额）", "month_ml": "每月限量（毫升）",
    # the tanks page (tanks.py)
    "Tanks": "油罐", "Tank": "油罐", "Temperature": "温度", "Water": "水位",
    "Capacity": "容量", "Low level": "低液位", "Pump suction": "吸油口液位",
    "Nozzles": "油枪", "Tank level": "液位", "Readings": "液位记录",
    "Litres at 15 C": "标准升数 (15 °C)", "Source": "来源", "Reconciliation": "损溢核算",
    "Opening": "期初", "Deliveries": "进油", "Book": "账面",
    "Gauge": "液位仪", "Variance": "损溢", "Cumulative variance": "累计损溢",
    "Limit": "限值", "Supplier": "供应商", "Ordered": "订购", "Delivered": "实收",
    "At 15 C": "15 °C", "Gauge at 15 C": "液位仪 15 °C", "Record a delivery note": "录入进油单",
    "Dip": "人工量油", "Save": "保存", "Add or change a tank": "添加或修改油罐",
    "Tank feeds a nozzle": "油罐供油枪", "ok": "正常", "low": "低液位",
    "suction": "低于吸油口",
    "Stock and variance": "库存与损溢", "Days reconciled": "核算天数",
    "Shifts": "班结", "Reports": "报表", "Alert rules": "报警规则",
    "Close the shift": "班结交班", "Shift": "班次", "Opened": "开班",
    "Count": "笔数", "Payment": "支付方式", "Card kind": "卡类型", "Hour": "小时",
    "Day": "日期", "Totalizers": "泵码", "Difference": "差异", "Moved": "泵码变化",
    "Records": "记录", "Settled later": "补扣", "Card loads": "充值", "Print": "打印",
    "Rule": "规则", "Enabled": "启用", "Severity": "级别",
    "Webhook": "Webhook", "Total": "合计", "Period": "期间", "day": "日", "month": "月",
    "year": "年", "range": "区间", "Show": "查询",
    # the station's own pages (station_pages.py)
    "Hotlist": "黑名单", "Parameters": "参数", "Metrology": "计量",
    "Station alarms": "站级报警", "Unsynced": "未上传", "Listed cards": "黑名单卡数",
    "Add to the hotlist": "加入黑名单", "Remove from the hotlist": "移出黑名单",
    "Remove": "移出", "Next": "下一页", "Previous": "上一页", "Value": "值", "Default": "默认值",
    "Range": "范围", "characters": "个字符", "Set parameter": "设置参数", "Nozzle map": "油枪对应",
    "Map nozzle": "设置油枪油品", "Totals": "累计数", "Event log": "事件日志",
    "Volume": "体积", "Checked": "核对", "matches": "一致", "MISMATCH": "不一致",
    "records pending": "记录未到", "baseline": "基准", "Raised": "报警时间",
    "Why": "原因", "Acknowledge": "确认", "Acknowledged": "已确认", "Open": "未确认",
    "queued": "排队中", "sent": "已下发", "done": "已执行", "failed": "失败",
    "expired": "已过期", "Parameter": "参数名", "no records yet": "暂无记录",
    "what the pump had yet to send at its last connection": "上次连接时油机尚未上传的记录数",
    # the pumps' IFSF states (firmware ifsf.py) and the station alarms' kinds (journals.py)
    "Idle": "空闲", "Calling": "请求加油", "Authorised": "已授权", "Started": "已提枪",
    "Fuelling": "加油中", "Closed": "已关闭", "Inoperative": "不可用",
    "new journal": "新日志", "conflict": "记录冲突",
    # words of the operators' page and the header
    "administrator": "管理员", "manager": "经理", "cashier": "收银员", "auditor": "审计员",
    "yes": "是", "enable": "启用", "disable": "停用", "PLAIN (unencrypted)": "明文（未加密）",
})


# each problems.MESSAGES code in Chinese (the same parameters)
PROBLEMS_ZH = {
    "no_actor": "没有操作员",
    "refused": "操作员 {name}（{role}）无权{what}：需要 {needs}",
    "unknown_operator": "操作员 {name} 不存在或已停用",
    "login_wrong": "用户名或密码错误",
    "login_wait": "密码错误次数过多：请 {wait} 秒后再试",
    "login_disabled": "操作员 {name} 已停用",
    "login_needed": "请输入用户名和密码",
    "csrf": "表单的安全令牌缺失或已过期：请刷新页面后重试",
    "not_logged_in": "未登录",
    "field_missing": "缺少 {field}",
    "field_number": "{field} 必须是整数",
    "field_range": "{field} 必须在 {low} 到 {high} 之间",
    "field_date": "{field} 必须是日期 YYYY-MM-DD",
    "field_card": "卡号：16 位卡号或其后 4 位",
    "field_choice": "{field} 必须是以下之一：{choices}",
    "field_decimal": "{field} 必须是数字",
    "field_decimals": "{field}：小数位过多",
    "field_bounds": "{field} 超出范围",
    "unknown_change": "未知操作 {what}",
    "alert_rule": "没有报警规则 {rule}",
    "stale_form": "此表单载入后{what}已改变（版本 {seen}，现为 {now}）：未作任何修改，"
                  "请核对后重新设置",
    "unknown_terminal": "终端 {terminal} 未注册",
    "grade": "油品代码为 1-8 个字符",
    "no_price": "油品 {grade} 没有价格：请先设置价格",
    "price": "价格必须是正整数（每升千分之一货币单位）",
    "price_time": "时间为 Unix 秒数",
    "price_waits": "已有价格变更等待 {at} 生效：此变更也须设为 {at}",
    "nozzle": "油枪号为 1-99",
    "command": "命令必须是以下之一：{choices}",
    "card": "卡号为 16 位数字",
    "listed": "卡 {card} 已在黑名单中",
    "not_listed": "卡 {card} 不在黑名单中",
    "no_params": "未给出参数",
    "param_refused": "{name}：油站不可设置（法制计量、密钥、油品/价格或链路自身参数）",
    "param_unknown": "{name}：没有此参数",
    "param_value": "参数 {name}：{why}",
    "terminal_id": "终端标识为 1-16 个可打印字符（配置 terminal_id）",
    "terminal_key": "终端密钥为 32 字节",
    "operator_name": "操作员名为 1-64 个可打印字符，首尾无空格，不以 'local:' 开头",
    "role": "角色须为以下之一：{choices}",
    "password": "密码至少 {length} 个字符",
    "operator_exists": "操作员 {name} 已存在",
    "no_operator": "没有操作员 {name}",
    "last_administrator": "{name} 是最后一个启用的管理员：请先添加另一个",
    "unknown_alarm": "没有站级报警 {id}",
    "alarm_acked": "站级报警 {id} 已被确认（{who}）",
    "price_past": "时间 {at} 已过：请给出将来的时间，或留空（下一笔交易生效）",
    "field_datetime": "{field} 必须是日期时间 YYYY-MM-DD HH:MM",
}
# each problems.NOTES code (what a change did) in Chinese (the same parameters)
NOTES_ZH = {
    "fleet_done": "车队：{what}已完成",
    "price_set": "{grade} 的价格已设为 {price}（版本 {version}）",
    "price_scheduled": "{grade} 的价格将自 {at} 起为 {price}（版本 {version}）",
    "command_queued": "命令 {id} 已排队",
    "operator_add": "已添加操作员 {name}",
    "operator_role": "操作员 {name} 的角色现为{role}",
    "operator_disable": "已停用操作员 {name}",
    "operator_enable": "已启用操作员 {name}",
    "operator_password": "已设置 {name} 的密码",
    "hotlist_add": "卡 {card} 已加入黑名单（版本 {version}）",
    "hotlist_remove": "卡 {card} 已移出黑名单（版本 {version}）",
    "param_set": "{name} = {value}（参数版本 {version}）",
    "nozzle_mapped": "{terminal} {nozzle} 号油枪：{grade}（价格版本 {version}）",
    "alarm_ack": "站级报警 {id} 已确认",
}
# the parameters that are words of ours (service.WHAT, roles), in Chinese
OUR_WORDS = ("what", "needs", "role")
WORDS_ZH = {
    "add terminals or change their keys": "添加终端或更换密钥", "manage operators": "管理操作员",
    "set prices": "设置油价", "set parameters": "设置参数", "send commands": "发送命令",
    "change the hotlist": "修改黑名单", "change the nozzle map": "修改油枪对应",
    "acknowledge station alarms": "确认站级报警", "read reports": "查看报表",
    "read the station": "查看油站", "read the audit trail": "查看审计日志",
    "back up or restore the store": "备份或恢复数据库", "close a shift": "班结",
    "change the alert rules": "修改报警规则",
    "manage fleet companies, their vehicle cards and allocations": "管理车队单位、车辆卡及分配",
    "set up tanks or record deliveries and dips": "设置油罐或录入进油、量油",
    "administrator": "管理员",
    "manager": "经理", "cashier": "收银员", "auditor": "审计员", "prices": "油价",
    "parameters": "参数", "commands": "命令", "hotlist": "黑名单", "nozzle map": "油枪对应",
    "operators": "操作员",
}


def translate(lang, text):
    return ZH.get(text, text) if lang == "zh" else text


def say(lang, error):
    """An error (or a note of what a change did) as the operator reads it: a Problem or a
    Note in their language, anything else as its English text."""
    texts = NOTES_ZH if isinstance(error, Note) else PROBLEMS_ZH
    if lang != "zh" or not isinstance(error, (Problem, Note)) or error.code not in texts:
        return str(error)
    params = {}
    for name, value in error.params.items():
        if name in OUR_WORDS:  # a word of ours, or a list of them ("a or b")
            value = " 或 ".join(WORDS_ZH.get(part, part) for part in value.split(" or "))
        params[name] = value
    return texts[error.code].format(**params)
