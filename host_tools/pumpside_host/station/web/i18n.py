"""The back office's two languages: English (the keys themselves) and Chinese. An
operator picks one (a cookie-free choice kept in the session)."""

LANGS = ("en", "zh")
ZH = {
    "Back office": "后台管理", "Forecourt": "油站前庭", "Sales": "销售", "Prices": "油价",
    "Terminals": "终端", "Commands": "命令", "Audit trail": "审计日志",
    "Operators": "操作员", "Log in": "登录", "Log out": "退出", "Name": "用户名",
    "Password": "密码", "Pump": "油机", "State": "状态", "Grade": "油品",
    "Litres": "升数", "Amount": "金额", "Online": "在线", "Offline": "离线",
    "Alarm": "报警", "Link": "链路", "Kind": "类型", "Card": "卡号", "Journal": "日志标识",
    "Firmware": "固件", "Software id": "软件标识", "Last seen": "最后通信",
    "Price": "价格", "Set price": "设置价格", "From (Unix s, 0: next sale)": "生效时间",
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
}


def translate(lang, text):
    return ZH.get(text, text) if lang == "zh" else text
